"""The orders table: one row per checked-out cart, priced from its items.

Order ids are numbered in order of time, as a shop's database would. The
amounts follow one rule, so a test can recompute them: ``revenue`` is the
items' subtotal less the coupon's discount, ``tax`` is 8% of it, shipping
is free from $75 (or with FREESHIP), and ``total`` adds the three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmint.demo.catalog import Catalog

COUPONS = (("WELCOME10", 0.10), ("SAVE15", 0.15), ("VIP20", 0.20), ("FREESHIP", 0.0))
COUPON_SHARE = 0.18
TAX_RATE = 0.08
SHIPPING = 5.95
FREE_SHIPPING_FROM = 75.0


@dataclass(frozen=True)
class Orders:
    """One row per order, sorted by ``ordered_at``; amounts in dollars."""

    session: np.ndarray  # the ORDER session (its cart) the order checked out
    order_id: list[str]
    ordered_at: np.ndarray  # ms
    subtotal: np.ndarray
    discount: np.ndarray
    revenue: np.ndarray
    shipping: np.ndarray
    tax: np.ndarray
    total: np.ndarray
    coupon: list[str | None]
    products: np.ndarray  # line items in the order
    category: np.ndarray  # category index of the first item

    @property
    def size(self) -> int:
        return len(self.order_id)


def make_orders(
    rng: np.random.Generator,
    catalog: Catalog,
    item_session: np.ndarray,
    item_product: np.ndarray,
    item_quantity: np.ndarray,
    ordered_at: np.ndarray,
) -> Orders:
    """Price the carts; ``item_*`` are grouped by session, ``ordered_at`` is per session."""
    session, first, products = np.unique(item_session, return_index=True, return_counts=True)
    line = catalog.price[item_product] * item_quantity
    subtotal = np.round(np.add.reduceat(line, first), 2)
    coupon_pick = np.where(rng.random(len(session)) < COUPON_SHARE, rng.integers(0, len(COUPONS), len(session)), -1)
    rate = np.array([r for _, r in COUPONS] + [0.0])[coupon_pick]
    discount = np.round(subtotal * rate, 2)
    revenue = np.round(subtotal - discount, 2)
    free = (revenue >= FREE_SHIPPING_FROM) | (coupon_pick == len(COUPONS) - 1)
    shipping = np.where(free, 0.0, SHIPPING)
    tax = np.round(revenue * TAX_RATE, 2)
    total = np.round(revenue + shipping + tax, 2)

    at = ordered_at[session]
    by_time = np.lexsort((session, at))
    coupon = [COUPONS[c][0] if c >= 0 else None for c in coupon_pick[by_time]]
    return Orders(
        session=session[by_time],
        order_id=[f"ord_{100_001 + k}" for k in range(len(session))],
        ordered_at=at[by_time],
        subtotal=subtotal[by_time],
        discount=discount[by_time],
        revenue=revenue[by_time],
        shipping=shipping[by_time],
        tax=tax[by_time],
        total=total[by_time],
        coupon=coupon,
        products=products[by_time],
        category=catalog.category[item_product[first]][by_time],
    )
