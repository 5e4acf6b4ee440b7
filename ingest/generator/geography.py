"""Where clients are: countries with their address space, accept-language and ISO 3166-2
subdivisions (for the geo match labels), and the visitors from abroad."""

from __future__ import annotations

import random

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
