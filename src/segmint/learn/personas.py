"""What makes each cluster itself, in words a marketer reads: its persona.

For every cluster and feature, an *effect* measures how far the cluster
sits from the whole population, in population standard deviations (after
``log1p`` for counts, money and day spans, as the clustering saw them; for
a categorical trait, the category whose share differs most). The features
with the largest effects describe the cluster, in figures:

- counts and money: ``orders 4.2× the average (14.1 vs 3.4)``;
- day spans, by median: ``last order 210 days ago vs 60``;
- never ordered: ``92% never ordered (vs 38%)``;
- categories: ``city Paris: 41% vs 12%``.

**Names.** A cluster gets the first marketing persona whose rule its
medians meet (the rules need the behavioural features they mention; with
other features every cluster gets a descriptive name):

==================  =========================================================
persona             rule (cluster medians; "average" is the population mean)
==================  =========================================================
New Visitors        first seen at most 30 days ago
Churned Customers   at least 1 order, the last at least 180 days ago
Loyal Buyers        orders at least 4 and twice the average, last order
                    within 90 days
Occasional Buyers   at least 1 order, the last within 180 days
Window Shoppers     no order, and browsing at least the population median
==================  =========================================================

Otherwise the name says what stands out: ``High spend, low tenure``. When
two clusters meet the same rule, the larger keeps the plain name and the
other adds what stands out: ``Occasional Buyers · high spend``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.learn.features import SKEWED, Kind, words

NOISE_NAME = "Unclustered"
SHOWN = 3  # differences in a description


@dataclass(frozen=True)
class Difference:
    feature: str
    cluster: Any
    population: Any
    effect: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "cluster": self.cluster,
            "population": self.population,
            "effect": round(self.effect, 3),
            "text": self.text,
        }


@dataclass(frozen=True)
class ClusterPersona:
    id: int
    name: str
    size: int
    share: float
    description: str
    rule: str | None = None  # the marketing persona whose rule matched
    differences: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "share": round(self.share, 4),
            "description": self.description,
            "persona_rule": self.rule,
            "differences": [d.as_dict() for d in self.differences],
        }


# --- naming rules -----------------------------------------------------------

Medians = dict[str, float]
Rule = Callable[[Medians, Medians, Medians], bool]  # (cluster medians, population medians, population means)
BROWSING = ("browsing_events", "product_views_90d", "sessions_90d")


def _browsing(m: Medians, pop: Medians) -> bool:
    present = [f for f in BROWSING if f in m]
    return bool(present) and m[present[0]] >= pop[present[0]]


RULES: tuple[tuple[str, tuple[str, ...], Rule], ...] = (
    ("New Visitors", ("tenure_days",), lambda m, pop, mean: m["tenure_days"] <= 30),
    (
        "Churned Customers",
        ("orders", "days_since_last_order"),
        lambda m, pop, mean: m["orders"] >= 1 and m["days_since_last_order"] >= 180,
    ),
    (
        "Loyal Buyers",
        ("orders", "days_since_last_order"),
        lambda m, pop, mean: m["orders"] >= max(4.0, 2 * mean["orders"]) and m["days_since_last_order"] <= 90,
    ),
    (
        "Occasional Buyers",
        ("orders", "days_since_last_order"),
        lambda m, pop, mean: m["orders"] >= 1 and m["days_since_last_order"] < 180,
    ),
    ("Window Shoppers", ("orders",), lambda m, pop, mean: m["orders"] < 1 and _browsing(m, pop)),
)


def persona_rule(cluster: Medians, population: Medians, means: Medians) -> str | None:
    """The first marketing persona whose rule the cluster's medians meet."""
    for name, needs, rule in RULES:
        if all(f in cluster for f in needs) and (name != "Window Shoppers" or any(f in cluster for f in BROWSING)):
            if rule(cluster, population, means):
                return name
    return None


# --- differences ------------------------------------------------------------

_DAYS_TEXT = {
    "days_since_last_order": "last order {c:,.0f} days ago vs {p:,.0f}",
    "days_since_last_seen": "last seen {c:,.0f} days ago vs {p:,.0f}",
    "tenure_days": "first seen {c:,.0f} days ago vs {p:,.0f}",
}


def _numeric_difference(
    name: str, kind: Kind, values: pd.Series, inside: np.ndarray, never: np.ndarray | None = None
) -> Difference | None:
    x = values.to_numpy(dtype=np.float64)
    present = ~np.isnan(x)
    if not (present & inside).any():
        return None
    scaled = np.log1p(np.clip(x, 0, None)) if kind in SKEWED else x
    spread = np.nanstd(scaled[present])
    effect = float((np.nanmean(scaled[inside & present]) - np.nanmean(scaled[present])) / spread) if spread > 0 else 0.0
    if kind == "days":
        if never is not None:
            c_share, p_share = float(never[inside].mean()), float(never.mean())
            if c_share >= 0.5:
                return Difference(name, c_share, p_share, effect, f"{c_share:.0%} never ordered (vs {p_share:.0%})")
        c, p = float(np.nanmedian(x[inside])), float(np.nanmedian(x))
        text = _DAYS_TEXT.get(name, "{w} {c:,.0f} vs {p:,.0f}").format(c=c, p=p, w=words(name))
        return Difference(name, c, p, effect, text)
    c, p = float(np.nanmean(x[inside])), float(np.nanmean(x))
    if kind in ("count", "money") and p > 0:
        ratio = c / p
        text = f"no {words(name)} (average {p:,.1f})" if c == 0 else f"{words(name)} {ratio:.1f}× the average ({c:,.1f} vs {p:,.1f})"
    else:
        text = f"{words(name)} {c:,.1f} vs {p:,.1f}"
    return Difference(name, c, p, effect, text)


def _category_difference(name: str, values: pd.Series, inside: np.ndarray) -> Difference | None:
    filled = values.fillna("(missing)").astype(str)
    population = filled.value_counts(normalize=True)
    cluster = filled[inside].value_counts(normalize=True).reindex(population.index, fill_value=0.0)
    spread = np.sqrt(population * (1 - population)).replace(0, np.nan)
    effects = ((cluster - population) / spread).fillna(0.0)
    if effects.empty:
        return None
    top = effects.abs().idxmax()
    text = f"{words(name)} {top}: {cluster[top]:.0%} vs {population[top]:.0%}"
    return Difference(name, float(cluster[top]), float(population[top]), float(effects[top]), text)


def differences(frame: pd.DataFrame, kinds: dict[str, Kind], inside: np.ndarray) -> list[Difference]:
    """How the rows ``inside`` differ from all rows, feature by feature, largest effect first."""
    found = []
    for name in frame.columns:
        kind = kinds[name]
        if kind == "category":
            found.append(_category_difference(name, frame[name], inside))
            continue
        # "Days since the last order" of someone who never ordered is a
        # stand-in value; say "never ordered" instead of quoting it.
        never = (frame["orders"] <= 0).to_numpy() if name == "days_since_last_order" and "orders" in frame else None
        found.append(_numeric_difference(name, kind, frame[name], inside, never))
    return sorted((d for d in found if d is not None), key=lambda d: -abs(d.effect))


def descriptive_name(found: list[Difference], features: int = 2) -> str:
    """``High spend, low days since first seen``: the features that stand out most."""
    parts = [f"{'high' if d.effect > 0 else 'low'} {words(d.feature)}" for d in found[:features] if abs(d.effect) >= 0.1]
    if not parts:
        return "Typical profiles"
    text = ", ".join(parts)
    return text[0].upper() + text[1:]


def name_clusters(
    frame: pd.DataFrame, kinds: dict[str, Kind], labels: np.ndarray
) -> list[ClusterPersona]:
    """One persona per cluster id in ``labels`` (ids ascending; -1 is noise)."""
    numeric = [c for c in frame.columns if kinds[c] != "category"]
    population = {c: float(frame[c].median()) for c in numeric}
    means = {c: float(frame[c].mean()) for c in numeric}
    personas: list[ClusterPersona] = []
    for cluster_id in sorted(int(c) for c in np.unique(labels)):
        inside = labels == cluster_id
        found = differences(frame, kinds, inside)
        medians = {c: float(frame.loc[inside, c].median()) for c in numeric}
        rule = None if cluster_id < 0 else persona_rule(medians, population, means)
        name = NOISE_NAME if cluster_id < 0 else rule or descriptive_name(found)
        text = "; ".join(d.text for d in found[:SHOWN])
        if cluster_id < 0:
            text = "in no dense region" + (f"; {text}" if text else "")
        personas.append(
            ClusterPersona(cluster_id, name, int(inside.sum()), float(inside.mean()), text, rule, found)
        )
    return _distinct_names(personas)


def _distinct_names(personas: list[ClusterPersona]) -> list[ClusterPersona]:
    taken: set[str] = set()
    out = []
    for persona in sorted(personas, key=lambda p: -p.size):
        name = persona.name
        if name in taken:
            name = f"{name} · {descriptive_name(persona.differences, 1).lower()}"
        while name in taken:
            name = f"{name} ({persona.id})"
        taken.add(name)
        out.append(ClusterPersona(persona.id, name, persona.size, persona.share, persona.description,
                                  persona.rule, persona.differences))  # fmt: skip
    return sorted(out, key=lambda p: p.id)
