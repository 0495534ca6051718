"""The demo shop's catalogue, pages and the word lists behind customer names.

Everything here is plain data plus one pure function, :func:`make_catalog`,
that draws the products from a seeded generator. Lists are tuples so that
nothing can change them between two runs of the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHOP_URL = "https://shop.cobbleandpine.com"
SHOP_NAME = "Cobble & Pine"
CURRENCY = "USD"

# category -> (brands, product nouns, median price in dollars, search queries)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], float, tuple[str, ...]]] = {
    "women": (
        ("Maren", "Lumiere", "Odette", "Fern & Fable"),
        ("Wrap Dress", "Linen Blouse", "Wide-Leg Trousers", "Cardigan", "Midi Skirt", "Trench Coat"),
        55.0,
        ("summer dress", "linen blouse", "trench coat", "cardigan"),
    ),
    "men": (
        ("Harlow", "Northgate", "Oakridge", "Tailor & Co"),
        ("Oxford Shirt", "Chino Trousers", "Wool Sweater", "Denim Jacket", "Polo Shirt", "Overcoat"),
        50.0,
        ("oxford shirt", "chinos", "wool sweater", "denim jacket"),
    ),
    "kids": (
        ("Little Wren", "Pebble", "Sprout"),
        ("Rain Jacket", "Pajama Set", "Hoodie", "Sneakers", "Backpack"),
        28.0,
        ("kids rain jacket", "pajamas", "school backpack"),
    ),
    "shoes": (
        ("Stride", "Cobble", "Vantage", "Piedra"),
        ("Leather Boots", "Running Shoes", "Loafers", "Sandals", "Chelsea Boots", "Sneakers"),
        85.0,
        ("running shoes", "chelsea boots", "white sneakers", "sandals"),
    ),
    "outdoor": (
        ("Northpeak", "Timberline", "Glacier Ridge", "Summit Trail"),
        ("Hiking Backpack", "Rain Shell", "Down Jacket", "Trekking Poles", "Tent", "Sleeping Bag"),
        110.0,
        ("rain jacket", "hiking boots", "tent", "down jacket", "sleeping bag"),
    ),
    "home": (
        ("Hearth", "Linden", "Casa Alta"),
        ("Linen Duvet Cover", "Ceramic Vase", "Throw Blanket", "Table Lamp", "Cotton Towels"),
        45.0,
        ("duvet cover", "throw blanket", "table lamp"),
    ),
    "beauty": (
        ("Aurelle", "Bloom Lab", "Verdant"),
        ("Face Serum", "Moisturizer", "Lip Balm Set", "Eau de Parfum", "Cleansing Oil"),
        32.0,
        ("vitamin c serum", "moisturizer", "perfume"),
    ),
    "electronics": (
        ("Voltic", "Auralis", "Kinetik"),
        ("Wireless Earbuds", "Smart Watch", "Bluetooth Speaker", "Power Bank", "Headphones"),
        120.0,
        ("wireless earbuds", "smart watch", "headphones", "speaker"),
    ),
    "sports": (
        ("Pacer", "Forma", "Apex Athletic"),
        ("Yoga Mat", "Training Tights", "Gym Bag", "Dumbbell Set", "Cycling Jersey"),
        40.0,
        ("yoga mat", "gym bag", "running tights"),
    ),
    "accessories": (
        ("Larkspur", "Meridian", "Ashby"),
        ("Leather Belt", "Wool Scarf", "Sunglasses", "Crossbody Bag", "Wallet", "Watch"),
        38.0,
        ("leather belt", "sunglasses", "crossbody bag", "wallet"),
    ),
}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)
ADJECTIVES = ("Classic", "Everyday", "Essential", "Heritage", "Lightweight", "Premium", "Organic", "Recycled")
LIST_KINDS = ("new-arrivals", "best-sellers", "sale", "all")
PRODUCTS_PER_CATEGORY = 40

FIRST_NAMES_FEMALE = (
    "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Amelia", "Harper", "Evelyn", "Abigail",
    "Emily", "Ella", "Chloe", "Grace", "Lucia", "Hannah", "Zoe", "Nora", "Leonie", "Camille",
    "Sofia", "Freya", "Aoife", "Ines", "Maja", "Yuki", "Priya", "Amara", "Elena", "Clara",
)  # fmt: skip
FIRST_NAMES_MALE = (
    "Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry", "Theodore",
    "Jack", "Leo", "Samuel", "Daniel", "Mateo", "Finn", "Jonas", "Luca", "Hugo", "Arjun",
    "Kenji", "Omar", "Felix", "Oscar", "Rafael", "Sean", "Erik", "Malik", "David", "Thomas",
)  # fmt: skip
FIRST_NAMES_OTHER = ("Alex", "Sam", "Jordan", "Robin", "Charlie", "Kai", "River", "Quinn")
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez", "Lopez",
    "Wilson", "Anderson", "Taylor", "Moore", "Martin", "Lee", "Walker", "Hall", "Young", "King",
    "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Murphy", "Kelly", "Schmidt", "Muller",
    "Dubois", "Moreau", "de Vries", "Jansen", "Rossi", "Bianchi", "Fernandez", "Nguyen", "Kim", "Tanaka",
    "Patel", "Singh", "Okafor", "Novak", "Larsen", "Johansson", "O'Brien", "Walsh", "Fischer", "Weber",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me", "gmx.de")
CITIES: tuple[tuple[str, str], ...] = (
    ("New York", "US"), ("Los Angeles", "US"), ("Chicago", "US"), ("Austin", "US"), ("Seattle", "US"),
    ("Boston", "US"), ("Denver", "US"), ("London", "GB"), ("Manchester", "GB"), ("Edinburgh", "GB"),
    ("Berlin", "DE"), ("Munich", "DE"), ("Paris", "FR"), ("Lyon", "FR"), ("Amsterdam", "NL"),
    ("Toronto", "CA"), ("Vancouver", "CA"), ("Sydney", "AU"), ("Madrid", "ES"), ("Milan", "IT"),
    ("Dublin", "IE"), ("Stockholm", "SE"),
)  # fmt: skip
CITY_WEIGHTS = np.array([9, 6, 5, 3, 3, 3, 2, 8, 3, 2, 5, 3, 4, 2, 3, 4, 2, 3, 2, 2, 2, 2], dtype=float)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
)  # fmt: skip
USER_AGENT_WEIGHTS = np.array([24, 14, 22, 12, 5, 10, 5, 8], dtype=float)


@dataclass(frozen=True)
class Catalog:
    """The products on sale, one row per product in parallel arrays.

    Products are grouped by category: the products of category ``c`` are the
    rows ``c * PRODUCTS_PER_CATEGORY`` up to the next category's first row.
    """

    product_id: tuple[str, ...]
    sku: tuple[str, ...]
    name: tuple[str, ...]
    brand: tuple[str, ...]
    slug: tuple[str, ...]
    category: np.ndarray  # int: index into CATEGORY_NAMES
    price: np.ndarray  # float dollars, two decimals
    premium: np.ndarray  # bool: in the upper price half of its category

    @property
    def size(self) -> int:
        return len(self.product_id)


def make_catalog(rng: np.random.Generator) -> Catalog:
    """Draw the shop's products: brands, names, prices, ids."""
    ids, skus, names, brands, slugs = [], [], [], [], []
    categories, prices = [], []
    for c, (category, (cat_brands, nouns, median, _)) in enumerate(CATEGORIES.items()):
        price = np.round(median * rng.lognormal(0.0, 0.45, PRODUCTS_PER_CATEGORY), 0) - 0.01
        brand_pick = rng.integers(0, len(cat_brands), PRODUCTS_PER_CATEGORY)
        noun_pick = rng.integers(0, len(nouns), PRODUCTS_PER_CATEGORY)
        adjective_pick = rng.integers(0, len(ADJECTIVES), PRODUCTS_PER_CATEGORY)
        for i in range(PRODUCTS_PER_CATEGORY):
            name = f"{ADJECTIVES[adjective_pick[i]]} {nouns[noun_pick[i]]}"
            brand = cat_brands[brand_pick[i]]
            number = c * 1000 + i + 101
            ids.append(rng.bytes(12).hex())
            skus.append(f"{category[:3].upper()}-{number:05d}")
            names.append(name)
            brands.append(brand)
            slugs.append(f"{brand}-{name}-{number}".lower().replace(" & ", "-").replace(" ", "-"))
        categories.append(np.full(PRODUCTS_PER_CATEGORY, c))
        prices.append(np.maximum(price, 4.99))
    price = np.concatenate(prices)
    category = np.concatenate(categories)
    median_in_category = np.repeat([np.median(p) for p in prices], PRODUCTS_PER_CATEGORY)
    return Catalog(
        product_id=tuple(ids),
        sku=tuple(skus),
        name=tuple(names),
        brand=tuple(brands),
        slug=tuple(slugs),
        category=category,
        price=price,
        premium=price >= median_in_category,
    )


def search_queries() -> tuple[tuple[str, int], ...]:
    """Every search query with the category it is about, in a fixed order."""
    return tuple((query, c) for c, spec in enumerate(CATEGORIES.values()) for query in spec[3])
