"""Request shapes per kind of site: product pages, categories, search, cart, checkout,
login, APIs, assets, and a few unicode paths. Sampled once per run into lookup tables
so that the hot loop picks a page with one ``getrandbits``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import orjson

from ingest.generator.catalogue import R_CAPTCHA, R_CHALLENGE, R_COUNT_API
from ingest.generator.engine import Match

PAGE_BITS = 13

ADJECTIVES = (
    "classic",
    "alpine",
    "merino",
    "slim",
    "organic",
    "vintage",
    "waterproof",
    "linen",
    "cosy",
    "urban",
    "trail",
    "summer",
    "recycled",
    "premium",
    "lightweight",
    "heritage",
)
NOUNS = (
    "jacket",
    "sneaker",
    "hoodie",
    "backpack",
    "chair",
    "lamp",
    "kettle",
    "duvet",
    "tent",
    "watch",
    "scarf",
    "boots",
    "rug",
    "mug",
    "headphones",
    "bike-helmet",
    "sofa",
    "dress",
)
CATEGORIES = (
    "men",
    "women",
    "kids",
    "outdoor",
    "home",
    "kitchen",
    "sale",
    "new-in",
    "shoes",
    "accessories",
    "furniture",
    "electronics",
)
SEARCH_TERMS = (
    "rain jacket",
    "wool socks",
    "gift card",
    "sofa bed",
    "running shoes",
    "größe 42",
    "crème",
    "linen shirt",
    "kids boots",
    "black friday",
    "coffee grinder",
    "tent 4 person",
    "vélo",
    "mañana",
    "espresso",
    "ski gloves",
    "yoga mat",
    "LED lamp",
)
UNICODE_PATHS = (
    "/produkte/größe-42-wanderschuhe",
    "/catégorie/vêtements-été",
    "/café/crème-brûlée",
    "/カテゴリ/家具",
    "/%D0%BA%D0%B0%D1%82%D0%B0%D0%BB%D0%BE%D0%B3/%D0%BE%D0%B1%D1%83%D0%B2%D1%8C",
    "/prodotti/caffè-macinato",
    "/tienda/niños/zapatos",
    "/sklep/żółty-płaszcz",
    "/produkte/gr%C3%B6%C3%9Fe-44",
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTIPART = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"


@dataclass(frozen=True, slots=True)
class Page:
    method: str
    uri: str
    args: str
    body_lo: int = 0
    body_hi: int = 0
    matches: tuple[Match, ...] = ()
    content_type: str = ""
    token: bool = False  # a CAPTCHA/CHALLENGE rule applies: token validity is drawn per request
    uri_piece: bytes = field(default=b"", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uri_piece", uri_piece(self.uri, self.args))


def uri_piece(uri: str, args: str) -> bytes:
    """``],"uri":..,"args":..,"httpVersion":`` — closes the headers list (see records.py)."""
    return b'],"uri":' + orjson.dumps(uri) + b',"args":' + orjson.dumps(args) + b',"httpVersion":'


def _slug(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}-{rng.randrange(1000, 99999)}"


def _hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}"


_API = ((R_COUNT_API, None),)


def _shop(rng: random.Random) -> list[tuple[float, Page]]:
    slug = _slug(rng)
    cat = rng.choice(CATEGORIES)
    term = quote_plus(rng.choice(SEARCH_TERMS))
    args = rng.choice(
        (
            "",
            "",
            "",
            "color=blue&size=M",
            "utm_source=newsletter&utm_medium=email",
            "gclid=Cj0KCQjw" + _hash(rng),
        )
    )
    return [
        (10.0, Page("GET", "/", rng.choice(("", "", "utm_source=google&utm_medium=cpc")))),
        (28.0, Page("GET", f"/products/{slug}", args)),
        (
            12.0,
            Page("GET", f"/category/{cat}", rng.choice(("", "page=2", "sort=price_asc&page=3"))),
        ),
        (8.0, Page("GET", "/search", f"q={term}" + rng.choice(("", "&page=2", "&sort=relevance")))),
        (5.0, Page("GET", "/cart", "")),
        (4.0, Page("POST", "/api/cart", "", 150, 600, _API, JSON)),
        (
            5.0,
            Page(
                "GET", "/api/v1/recommendations", f"sku={rng.randrange(10**6, 10**7)}", matches=_API
            ),
        ),
        (2.5, Page("GET", "/checkout", "")),
        (1.2, Page("POST", "/checkout/payment", "", 1200, 6500, content_type=FORM)),
        (1.0, Page("GET", "/login", rng.choice(("", "next=%2Faccount%2Forders")))),
        (0.8, Page("POST", "/login", "", 60, 180, content_type=FORM)),
        (1.5, Page("GET", "/account/orders", "", matches=((R_CHALLENGE, None),), token=True)),
        (0.2, Page("POST", "/giftcard/balance", "", 40, 90, ((R_CAPTCHA, None),), FORM, True)),
        (
            15.0,
            Page(
                "GET",
                rng.choice(
                    (
                        f"/static/js/app.{_hash(rng)}.js",
                        f"/static/css/main.{_hash(rng)}.css",
                        f"/images/products/{slug}-{rng.randrange(1, 6)}.webp",
                    )
                ),
                "",
            ),
        ),
        (1.5, Page("GET", rng.choice(("/favicon.ico", "/robots.txt", "/sitemap.xml")), "")),
        (0.5, Page("GET", rng.choice(UNICODE_PATHS), "")),
    ]


def _media(rng: random.Random) -> list[tuple[float, Page]]:
    slug = _slug(rng)
    return [
        (40.0, Page("GET", f"/img/{rng.choice((320, 640, 1280))}/{slug}.jpg", "")),
        (25.0, Page("GET", f"/assets/{_hash(rng)}.js", "")),
        (10.0, Page("GET", f"/assets/{_hash(rng)}.css", "")),
        (5.0, Page("GET", "/fonts/inter-var.woff2", "")),
        (4.0, Page("GET", f"/video/{rng.randrange(10**5, 10**6)}/master.m3u8", "")),
        (16.0, Page("GET", f"/img/{rng.choice((320, 640))}/{slug}.webp", "w=640&q=75")),
    ]


def _api(rng: random.Random) -> list[tuple[float, Page]]:
    oid = rng.randrange(10**7, 10**8)
    return [
        (30.0, Page("GET", "/v1/products", f"page={rng.randrange(1, 40)}&limit=24")),
        (20.0, Page("GET", f"/v1/products/{rng.randrange(10**6, 10**7)}", "")),
        (8.0, Page("POST", "/v2/orders", "", 300, 4000, content_type=JSON)),
        (6.0, Page("GET", f"/v2/orders/{oid}", "")),
        (8.0, Page("PUT", f"/v1/cart/{_hash(rng)}{_hash(rng)}", "", 120, 900, content_type=JSON)),
        (5.0, Page("POST", "/v1/auth/token", "", 120, 300, content_type=JSON)),
        (12.0, Page("POST", "/graphql", "", 200, 2500, content_type=JSON)),
        (
            6.0,
            Page(
                "GET",
                "/v1/stores/nearby",
                f"lat={rng.uniform(35, 60):.4f}&lon={rng.uniform(-10, 20):.4f}",
            ),
        ),
        (0.3, Page("POST", "/v1/media/upload", "", 9000, 60000, content_type=MULTIPART)),
        (5.0, Page("GET", "/health", "")),
    ]


def _corp(rng: random.Random) -> list[tuple[float, Page]]:
    slug = _slug(rng)
    return [
        (15.0, Page("GET", "/", "")),
        (5.0, Page("GET", "/about", "")),
        (8.0, Page("GET", "/careers", rng.choice(("", "team=engineering", "location=berlin")))),
        (6.0, Page("GET", f"/careers/jobs/{rng.randrange(1000, 9999)}", "")),
        (20.0, Page("GET", f"/blog/{slug}", "")),
        (10.0, Page("GET", f"/help/articles/{rng.randrange(100, 999)}-{slug}", "")),
        (5.0, Page("GET", f"/press/{rng.randrange(2019, 2025)}/{slug}", "")),
        (2.0, Page("POST", "/contact", "", 300, 2000, content_type=FORM)),
        (4.0, Page("GET", "/search", f"q={quote_plus(rng.choice(SEARCH_TERMS))}")),
        (20.0, Page("GET", f"/static/{_hash(rng)}.js", "")),
        (0.5, Page("GET", rng.choice(UNICODE_PATHS), "")),
    ]


_KINDS = {"shop": _shop, "mobile": _shop, "media": _media, "api": _api, "corp": _corp}


def page_tables(rng: random.Random) -> dict[str, list[Page]]:
    """kind -> table of 2**PAGE_BITS pages sampled by weight."""
    tables: dict[str, list[Page]] = {}
    for kind, factory in _KINDS.items():
        table: list[Page] = []
        while len(table) < (1 << PAGE_BITS):
            options = factory(rng)
            weights = [w for w, _ in options]
            table.extend(p for _, p in rng.choices(options, weights=weights, k=16))
        tables[kind] = table[: 1 << PAGE_BITS]
    return tables
