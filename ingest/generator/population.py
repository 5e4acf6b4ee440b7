"""Who sends the traffic: countries and their address space, browsers and bots, and the
pool of simulated clients (address, country, user agent, TLS fingerprints, headers).

Client headers are pre-serialised JSON fragments so that building a record is cheap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import orjson

# country -> (IPv4 first octets, IPv6 /32 prefixes, accept-language)
COUNTRIES: dict[str, tuple[tuple[int, ...], tuple[str, ...], str]] = {
    "US": (
        (23, 24, 50, 63, 67, 68, 69, 71, 73, 74, 75, 76, 96, 97, 98, 99, 107, 108, 173, 174),
        ("2600:1700", "2601:0140", "2603:8000", "2607:fb90"),
        "en-US,en;q=0.9",
    ),
    "CA": (
        (24, 64, 70, 99, 142, 174, 184, 206),
        ("2607:fea8", "2605:8d80"),
        "en-CA,en;q=0.9,fr-CA;q=0.8",
    ),
    "GB": (
        (2, 5, 31, 51, 81, 86, 90, 109, 212, 217),
        ("2a00:23c6", "2a01:4c8", "2a02:c7c"),
        "en-GB,en;q=0.9",
    ),
    "DE": (
        (46, 77, 78, 79, 84, 87, 91, 93, 217),
        ("2a02:8108", "2003:00e6", "2a01:0598"),
        "de-DE,de;q=0.9,en;q=0.8",
    ),
    "FR": (
        (2, 37, 78, 82, 86, 88, 90, 92),
        ("2a01:cb00", "2001:0861", "2a01:e0a"),
        "fr-FR,fr;q=0.9,en;q=0.8",
    ),
    "IT": ((2, 5, 79, 87, 93, 151), ("2a01:0827", "2001:0b07"), "it-IT,it;q=0.9,en;q=0.8"),
    "ES": ((2, 31, 79, 83, 88, 95), ("2a0c:5a80", "2a01:0c50"), "es-ES,es;q=0.9,en;q=0.8"),
    "NL": ((31, 77, 80, 84, 145, 212), ("2a02:a46", "2001:1c00"), "nl-NL,nl;q=0.9,en;q=0.8"),
    "BE": ((78, 81, 91, 109, 178), ("2a02:1810", "2a02:a03f"), "nl-BE,nl;q=0.9,fr-BE;q=0.8"),
    "AT": ((62, 77, 80, 84, 178, 188), ("2a02:8388", "2001:0871"), "de-AT,de;q=0.9,en;q=0.8"),
    "CH": ((31, 62, 85, 178, 188, 213), ("2a02:1205", "2a02:aa10"), "de-CH,de;q=0.9,fr-CH;q=0.8"),
    "SE": ((78, 81, 83, 90, 155, 213), ("2a02:aa1", "2001:2042"), "sv-SE,sv;q=0.9,en;q=0.8"),
    "PL": ((31, 37, 46, 78, 83, 89, 178), ("2a02:a311", "2a01:110f"), "pl-PL,pl;q=0.9,en;q=0.8"),
    "IE": ((37, 46, 78, 86, 89, 109), ("2a02:8084", "2001:0bb6"), "en-IE,en;q=0.9"),
    "DK": ((2, 5, 62, 80, 87, 188), ("2a02:aed0", "2001:0878"), "da-DK,da;q=0.9,en;q=0.8"),
    "NO": (
        (46, 77, 84, 85, 88, 193),
        ("2a02:fe1", "2001:4610"),
        "nb-NO,nb;q=0.9,no;q=0.8,en;q=0.7",
    ),
    "FI": ((62, 84, 85, 88, 91, 193), ("2001:14ba", "2a00:1dd0"), "fi-FI,fi;q=0.9,en;q=0.8"),
    "PT": ((2, 5, 85, 89, 94, 188), ("2001:8a0", "2a01:14"), "pt-PT,pt;q=0.9,en;q=0.8"),
    "AU": ((1, 27, 49, 58, 101, 110, 120, 124, 203), ("2001:8003", "2403:5800"), "en-AU,en;q=0.9"),
    "JP": (
        (1, 27, 49, 58, 60, 106, 110, 114, 126, 153, 180),
        ("2400:4050", "240b:0010"),
        "ja-JP,ja;q=0.9,en;q=0.8",
    ),
    "BR": (
        (177, 179, 186, 187, 189, 191, 200, 201),
        ("2804:14c", "2804:7f4"),
        "pt-BR,pt;q=0.9,en;q=0.8",
    ),
    "MX": ((187, 189, 189, 200, 201), ("2806:0102",), "es-MX,es;q=0.9,en;q=0.8"),
    "IN": (
        (49, 103, 106, 117, 122, 157, 182),
        ("2401:4900", "2409:4040"),
        "en-IN,en;q=0.9,hi;q=0.8",
    ),
    "SG": ((101, 103, 116, 118, 175), ("2406:3003",), "en-SG,en;q=0.9"),
    "CN": (
        (1, 14, 27, 36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116),
        ("240e:0388", "2408:8207"),
        "zh-CN,zh;q=0.9",
    ),
    "RU": (
        (5, 31, 37, 46, 77, 78, 79, 85, 91, 95, 176, 178, 188),
        ("2a00:1fa0", "2a02:2698"),
        "ru-RU,ru;q=0.9,en;q=0.8",
    ),
    "UA": ((31, 37, 46, 91, 93, 176, 178, 194), ("2a02:2378",), "uk-UA,uk;q=0.9,en;q=0.8"),
    "TR": ((78, 85, 88, 95, 176, 178), ("2a02:e0",), "tr-TR,tr;q=0.9,en;q=0.8"),
    "VN": ((14, 27, 42, 113, 115, 171), ("2405:4802",), "vi-VN,vi;q=0.9,en;q=0.8"),
    "ZA": ((41, 102, 105, 154, 196, 197), ("2c0f:f4c0",), "en-ZA,en;q=0.9"),
    "AE": ((2, 5, 31, 86, 94, 217), ("2001:8f8",), "en-AE,en;q=0.9,ar;q=0.8"),
    "IR": ((2, 5, 31, 37, 46, 78, 85, 91), ("2a01:5ec0",), "fa-IR,fa;q=0.9,en;q=0.8"),
    "KP": ((175,), ("2a0d:8d00",), "ko-KP,ko;q=0.9"),
    "SY": ((5, 31, 46, 82, 178), ("2a00:1218",), "ar-SY,ar;q=0.9"),
    "CU": ((152, 169, 181, 190, 200), ("2800:0170",), "es-CU,es;q=0.9"),
}

# ISO 3166-2 subdivisions for the geo match labels (a few per country).
REGIONS: dict[str, tuple[str, ...]] = {
    "US": ("CA", "NY", "TX", "WA", "FL", "IL", "VA"),
    "DE": ("BE", "BY", "NW", "HE", "HH"),
    "GB": ("ENG", "SCT", "WLS"),
    "FR": ("IDF", "ARA", "PAC", "OCC"),
    "IT": ("62", "25", "72"),
    "ES": ("MD", "CT", "AN"),
    "NL": ("NH", "ZH", "UT"),
    "CA": ("ON", "QC", "BC"),
    "AU": ("NSW", "VIC", "QLD"),
    "JP": ("13", "27", "14"),
    "IR": ("23", "07"),
    "KP": ("01",),
    "SY": ("DI", "HL"),
    "CU": ("03",),
    "RU": ("MOW", "SPE"),
    "CN": ("BJ", "SH", "GD"),
    "AT": ("9", "3"),
    "CH": ("ZH", "GE", "BE"),
    "SE": ("AB", "M", "O"),
    "PL": ("14", "12"),
    "BE": ("BRU", "VLG", "WAL"),
    "IE": ("L", "M"),
    "DK": ("84", "82"),
    "NO": ("03", "46"),
    "FI": ("18", "19"),
    "PT": ("11", "13"),
    "BR": ("SP", "RJ"),
    "MX": ("CMX", "JAL"),
    "IN": ("MH", "KA", "DL"),
    "SG": ("01",),
    "UA": ("30", "46"),
    "TR": ("34", "06"),
    "VN": ("SG", "HN"),
    "ZA": ("GP", "WC"),
    "AE": ("DU", "AZ"),
}

# Visitors from outside a domain's market: country -> weight.
TRAVELLERS: tuple[tuple[str, float], ...] = (
    ("US", 8.0),
    ("GB", 4.0),
    ("DE", 4.0),
    ("FR", 3.0),
    ("IT", 2.0),
    ("ES", 2.0),
    ("NL", 1.5),
    ("CA", 1.5),
    ("AU", 1.0),
    ("JP", 1.0),
    ("BR", 1.0),
    ("MX", 0.8),
    ("IN", 1.5),
    ("SG", 0.5),
    ("CN", 0.8),
    ("RU", 0.5),
    ("UA", 0.4),
    ("TR", 0.5),
    ("PL", 1.0),
    ("SE", 0.7),
    ("CH", 0.7),
    ("AT", 0.6),
    ("BE", 0.6),
    ("IE", 0.5),
    ("DK", 0.4),
    ("NO", 0.4),
    ("FI", 0.3),
    ("PT", 0.4),
    ("VN", 0.3),
    ("ZA", 0.3),
    ("AE", 0.4),
)


def seeded(*parts: object) -> random.Random:
    """A deterministic RNG for a simulation stream (not for secrets): same parts, same draws.
    String seeds hash with SHA-512, so they are stable across processes and machines."""
    return random.Random("/".join(map(str, parts)))  # noqa: S311 (simulation, not security)


def ipv4(rng: random.Random, country: str) -> str:
    octets = COUNTRIES[country][0]
    first = octets[int(rng.random() * len(octets))]
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def ipv6(rng: random.Random, country: str) -> str:
    prefixes = COUNTRIES[country][1]
    prefix = prefixes[int(rng.random() * len(prefixes))]
    tail = ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
    return f"{prefix}:{tail}"


def client_ip(rng: random.Random, country: str, v6_share: float = 0.18) -> str:
    return ipv6(rng, country) if rng.random() < v6_share else ipv4(rng, country)


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
