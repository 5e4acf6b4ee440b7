"""Who sends the traffic: countries and their address space, browsers and bots, and the
pool of simulated clients (address, country, user agent, TLS fingerprints, headers).

Client headers are pre-serialised JSON fragments so that building a record is cheap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import orjson

from ingest.generator.geography import COUNTRIES, REGIONS, client_ip


@dataclass(frozen=True, slots=True)
class Browser:
    family: str
    weight: float
    ua: str  # with {v} for the major version
    versions: tuple[int, ...]
    chromium: bool
    platform: str
    mobile: bool
    ja4: tuple[str, ...]


_CH_JA4 = ("t13d1516h2_8daaf6152771_02713d6af862", "t13d1516h2_8daaf6152771_e5627efa2ab1")
_SAFARI_JA4 = ("t13d2014h2_a09f3c656075_14788d8d241b",)
_FF_JA4 = ("t13d1715h2_5b57614c22b0_3d5424432f57", "t13d1717h2_5b57614c22b0_3cbfd9057e0d")

BROWSERS: tuple[Browser, ...] = (
    Browser(
        "chrome-windows",
        30,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        (122, 123, 124, 125, 126),
        True,
        '"Windows"',
        False,
        _CH_JA4,
    ),
    Browser(
        "chrome-mac",
        9,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        (123, 124, 125, 126),
        True,
        '"macOS"',
        False,
        _CH_JA4,
    ),
    Browser(
        "safari-iphone",
        22,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{v} Mobile/15E148 Safari/604.1",
        (3, 4, 5),
        False,
        "",
        True,
        _SAFARI_JA4,
    ),
    Browser(
        "chrome-android",
        15,
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
        (123, 124, 125, 126),
        True,
        '"Android"',
        True,
        _CH_JA4,
    ),
    Browser(
        "safari-mac",
        6,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.{v} Safari/605.1.15",
        (3, 4, 5),
        False,
        "",
        False,
        _SAFARI_JA4,
    ),
    Browser(
        "firefox-windows",
        6,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
        (124, 125, 126, 127),
        False,
        "",
        False,
        _FF_JA4,
    ),
    Browser(
        "edge-windows",
        7,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
        (124, 125, 126),
        True,
        '"Windows"',
        False,
        _CH_JA4,
    ),
    Browser(
        "samsung-android",
        4,
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) "
        "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{v}.0 Chrome/121.0.0.0 "
        "Mobile Safari/537.36",
        (24, 25),
        True,
        '"Android"',
        True,
        _CH_JA4,
    ),
)

ACCEPT_HTML = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)


def header(name: str, value: str) -> bytes:
    """One ``{"name":..,"value":..}`` entry, serialised."""
    return orjson.dumps({"name": name, "value": value})


def headers_fragment(pairs: list[tuple[str, str]]) -> bytes:
    """Header entries serialised with a leading comma each (to follow the host header)."""
    return b"".join(b"," + header(n, v) for n, v in pairs)


@dataclass(frozen=True, slots=True)
class Client:
    ip: str
    country: str
    ua: str
    headers: bytes  # leading-comma fragment: user-agent, accept, ...
    cookie: bytes  # leading-comma fragment for the cookie header
    ja3: str
    ja4: str
    http_version: str
    family: str
    capitalised: bool = False  # HTTP/1.1 library style header names ("Host", "User-Agent")
    # pre-serialised record pieces (see records.py)
    ip_piece: bytes = field(default=b"", init=False)
    version_piece: bytes = field(default=b"", init=False)
    tls_piece: bytes = field(default=b"", init=False)
    geo_piece: bytes = field(default=b"", init=False)  # geo match labels for this address

    def __post_init__(self) -> None:
        dumps = orjson.dumps
        regions = REGIONS.get(self.country, ("01",))
        region = regions[sum(self.ip.encode()) % len(regions)]
        object.__setattr__(
            self,
            "geo_piece",
            (
                dumps({"name": f"awswaf:clientip:geo:country:{self.country}"})
                + b","
                + dumps({"name": f"awswaf:clientip:geo:region:{self.country}-{region}"})
            ),
        )
        object.__setattr__(
            self,
            "ip_piece",
            dumps(self.ip) + b',"country":' + dumps(self.country) + b',"headers":[',
        )
        object.__setattr__(self, "version_piece", dumps(self.http_version) + b',"httpMethod":')
        object.__setattr__(
            self,
            "tls_piece",
            b',"ja3Fingerprint":'
            + dumps(self.ja3)
            + b',"ja4Fingerprint":'
            + dumps(self.ja4)
            + b"}",
        )


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def browser_client(
    rng: random.Random, country: str, browser: Browser | None = None, ip: str | None = None
) -> Client:
    if browser is None:
        browser = rng.choices(BROWSERS, weights=[b.weight for b in BROWSERS])[0]
    version = rng.choice(browser.versions)
    ua = browser.ua.format(v=version)
    lang = COUNTRIES[country][2]
    pairs = [
        ("user-agent", ua),
        ("accept", ACCEPT_HTML),
        ("accept-language", lang),
        ("accept-encoding", "gzip, deflate, br, zstd" if browser.chromium else "gzip, deflate, br"),
    ]
    if browser.chromium:
        brand = "Microsoft Edge" if "Edg/" in ua else "Google Chrome"
        pairs += [
            (
                "sec-ch-ua",
                f'"Chromium";v="{version}", "{brand}";v="{version}", "Not.A/Brand";v="24"',
            ),
            ("sec-ch-ua-mobile", "?1" if browser.mobile else "?0"),
            ("sec-ch-ua-platform", browser.platform),
        ]
    pairs += [
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
    ]
    if rng.random() < 0.08:  # behind a corporate proxy or a carrier NAT that adds XFF
        pairs.append(("x-forwarded-for", client_ip(rng, country, 0.0)))
    cookie = (
        f"session={_hex(rng, 32)}; _ga=GA1.2.{rng.randrange(10**9)}.{rng.randrange(10**9)}; "
        f"consent=analytics%3Dtrue"
    )
    return Client(
        ip=ip or client_ip(rng, country),
        country=country,
        ua=ua,
        headers=headers_fragment(pairs),
        cookie=b"," + header("cookie", cookie),
        ja3=_hex(rng, 32) if rng.random() < 0.02 else _JA3[browser.family],
        ja4=rng.choice(browser.ja4),
        http_version="HTTP/2.0" if rng.random() < 0.9 else "HTTP/1.1",
        family=browser.family,
    )


_JA3 = {
    "chrome-windows": "cd08e31494f9531f560d64c695473da9",
    "chrome-mac": "cd08e31494f9531f560d64c695473da9",
    "chrome-android": "9b02ebd3a43b62d825e1ac605b621dc6",
    "edge-windows": "cd08e31494f9531f560d64c695473da9",
    "samsung-android": "9b02ebd3a43b62d825e1ac605b621dc6",
    "safari-iphone": "773906b0efdefa24a7f2b8eb6985bf37",
    "safari-mac": "773906b0efdefa24a7f2b8eb6985bf37",
    "firefox-windows": "579ccef312d18482fc42e2b822ca2430",
}


@dataclass(frozen=True, slots=True)
class Bot:
    """A non-browser agent: its Bot Control labels and the rules it matches."""

    name: str
    ua: str
    category_rule: str | None  # Bot Control rule it matches (None: verified, labels only)
    labels: tuple[str, ...]  # label suffixes under awswaf:managed:aws:bot-control:
    ips: tuple[str, ...]  # IPv4 prefixes (first three octets) or ""
    country: str
    ja4: str
    signals: tuple[str, ...] = ()  # extra Bot Control signal rules matched


GOOD_BOTS: tuple[tuple[Bot, float], ...] = (
    (
        Bot(
            "googlebot",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            None,
            ("bot:category:search_engine", "bot:name:googlebot", "bot:verified"),
            ("66.249.66", "66.249.68", "66.249.72", "66.249.79"),
            "US",
            "t13d1516h2_8daaf6152771_e5627efa2ab1",
        ),
        5.0,
    ),
    (
        Bot(
            "bingbot",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            None,
            ("bot:category:search_engine", "bot:name:bingbot", "bot:verified"),
            ("40.77.167", "157.55.39", "207.46.13"),
            "US",
            "t13d1715h2_5b57614c22b0_7121afd63204",
        ),
        2.0,
    ),
    (
        Bot(
            "applebot",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
            None,
            ("bot:category:search_engine", "bot:name:applebot", "bot:verified"),
            ("17.241.219", "17.241.75", "17.22.237"),
            "US",
            "t13d2014h2_a09f3c656075_14788d8d241b",
        ),
        0.8,
    ),
    (
        Bot(
            "facebookexternalhit",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            None,
            ("bot:category:social_media", "bot:name:facebookexternalhit", "bot:verified"),
            ("69.171.230", "173.252.107", "31.13.103"),
            "US",
            "t13d1311h2_f57a46bbacb6_ab9a6d4ec1d4",
        ),
        0.6,
    ),
)

HTTP_LIBRARIES: tuple[tuple[Bot, float], ...] = (
    (
        Bot(
            "curl",
            "curl/8.5.0",
            "CategoryHttpLibrary",
            (
                "bot:category:http_library",
                "bot:name:curl",
                "bot:unverified",
                "signal:non_browser_user_agent",
            ),
            (),
            "",
            "t13d3112h2_e8f1e7e78f70_6bebaf5329ac",
            ("SignalNonBrowserUserAgent",),
        ),
        1.0,
    ),
    (
        Bot(
            "python_requests",
            "python-requests/2.31.0",
            "CategoryHttpLibrary",
            (
                "bot:category:http_library",
                "bot:name:python_requests",
                "bot:unverified",
                "signal:non_browser_user_agent",
            ),
            (),
            "",
            "t13d1812h1_85036bcba153_b26ce05bbdd6",
            ("SignalNonBrowserUserAgent",),
        ),
        1.0,
    ),
    (
        Bot(
            "go_http",
            "Go-http-client/2.0",
            "CategoryHttpLibrary",
            (
                "bot:category:http_library",
                "bot:name:go_http",
                "bot:unverified",
                "signal:non_browser_user_agent",
            ),
            (),
            "",
            "t13d1311h2_f57a46bbacb6_d9ee9cb1bca6",
            ("SignalNonBrowserUserAgent",),
        ),
        0.7,
    ),
    (
        Bot(
            "okhttp",
            "okhttp/4.12.0",
            "CategoryHttpLibrary",
            (
                "bot:category:http_library",
                "bot:name:okhttp",
                "bot:unverified",
                "signal:non_browser_user_agent",
            ),
            (),
            "",
            "t13d1713h2_5b57614c22b0_eca864cca44a",
            ("SignalNonBrowserUserAgent",),
        ),
        0.8,
    ),
)


def bot_client(rng: random.Random, bot: Bot, country: str | None = None) -> Client:
    """A client for a bot; library clients send HTTP/1.1 style capitalised header names."""
    if bot.ips:
        ip = f"{rng.choice(bot.ips)}.{rng.randrange(1, 255)}"
        country = bot.country
    else:
        country = country or "US"
        ip = client_ip(rng, country, 0.1)
    if bot.category_rule == "CategoryHttpLibrary":
        pairs = [("User-Agent", bot.ua), ("Accept", "*/*")]
        version = "HTTP/1.1"
    else:
        pairs = [
            ("user-agent", bot.ua),
            ("accept", "*/*"),
            ("accept-encoding", "gzip, deflate, br"),
        ]
        version = "HTTP/2.0" if rng.random() < 0.5 else "HTTP/1.1"
    return Client(
        ip=ip,
        country=country,
        ua=bot.ua,
        headers=headers_fragment(pairs),
        cookie=b"",
        ja3=_hex(rng, 32),
        ja4=bot.ja4,
        http_version=version,
        family=bot.name,
        capitalised=version == "HTTP/1.1" and pairs[0][0] == "User-Agent",
    )
