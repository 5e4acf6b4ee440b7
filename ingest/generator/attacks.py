"""Attack scenarios: SQL injection and XSS scanners, credential stuffing against /login,
and bad bots (scrapers, headless browsers, fake Googlebot, data-centre traffic).

Payloads are the real strings scanners send (``<script>alert(1)</script>``,
``' OR 1=1--``...), raw and percent-encoded, so escaping paths downstream get exercised.
"""

from __future__ import annotations

import random
from collections import deque
from urllib.parse import quote

from ingest.generator.catalogue import (
    BOT_LABEL,
    R_BOT,
    R_CRS,
    R_IPREP,
    R_RATE_LOGIN,
    R_SQLI,
)
from ingest.generator.engine import Match
from ingest.generator.population import (
    BROWSERS,
    Client,
    browser_client,
    header,
    headers_fragment,
)
from ingest.generator.records import Request
from ingest.generator.scenarios import Planned, Scenario, arrivals
from ingest.generator.topology import Domain

SQL_PAYLOADS = (
    "1' OR 1=1--",
    "1 UNION SELECT username,password FROM users--",
    "1' AND SLEEP(5)--",
    "1;DROP TABLE orders--",
    "admin'--",
    "1 AND 1=CONVERT(int,(SELECT @@version))",
    "-1' UNION ALL SELECT NULL,NULL,table_name FROM information_schema.tables--",
    "' OR '1'='1",
    "1) OR (1=1",
    "1' WAITFOR DELAY '0:0:5'--",
)
XSS_PAYLOADS = (
    "<script>alert(1)</script>",
    '"><script>alert(document.cookie)</script>',
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert('XSS')>",
    "javascript:alert(1)",
    "'\"><iframe src=javascript:alert(1)>",
    "<body onload=alert(1)>",
    "<ScRiPt>prompt(document.domain)</sCrIpT>",
)
SQLMAP_UA = "sqlmap/1.7.2#stable (https://sqlmap.org)"
PARAMS = (
    ("/search", "q"),
    ("/products", "id"),
    ("/category/shoes", "sort"),
    ("/api/v1/recommendations", "sku"),
)
DATACENTRES = (
    ("5.9", "DE"),
    ("88.99", "DE"),
    ("135.181", "FI"),
    ("51.38", "FR"),
    ("54.36", "FR"),
    ("159.65", "US"),
    ("167.99", "NL"),
    ("142.93", "SG"),
    ("3.120", "US"),
    ("18.196", "US"),
    ("52.208", "IE"),
    ("34.141", "US"),
)


def _tokens(payload: str) -> list[str]:
    return payload.replace("(", " ( ").split()[:4]


def _scanner_client(rng: random.Random, country: str, ua: str | None = None) -> Client:
    base = browser_client(rng, country)
    if ua is None:
        return base
    return Client(
        base.ip,
        country,
        ua,
        headers_fragment([("User-Agent", ua), ("Accept", "*/*")]),
        b"",
        base.ja3,
        "t13d1812h1_85036bcba153_b26ce05bbdd6",
        "HTTP/1.1",
        "scanner",
        capitalised=True,
    )


class _Scanner(Scenario):
    rate = 6.0
    target_rule = R_SQLI
    target_sub = "SQLi_QUERYARGUMENTS"

    def setup(self, rng: random.Random) -> None:
        self.acl, domains = self.pick_acl(
            ("shop-us-prod", "shop-eu-prod"), self.target_rule, ("shop",), self.target_sub
        )
        self.domain = rng.choice(domains[:5])
        self.rule, self.rule_type, self.sub_rule = (
            self.target_rule,
            "MANAGED_RULE_GROUP",
            self.target_sub,
        )
        countries = rng.sample(("NL", "RU", "US", "DE", "SG", "CN", "UA"), 3)
        self.clients = [_scanner_client(rng, c) for c in countries]
        self.clients.append(_scanner_client(rng, countries[0], SQLMAP_UA))
        self.bad_reputation = self.clients[1].ip  # one source is on Amazon's reputation list

    def base_matches(self, client: Client) -> tuple[Match, ...]:
        out: tuple[Match, ...] = ()
        if client.ip == self.bad_reputation:
            out += ((R_IPREP, "AWSManagedIPReputationList"),)
        if client.ua == SQLMAP_UA:
            out += ((R_CRS, "UserAgent_BadBots_HEADER"),)
        return out


class SqliScanner(_Scanner):
    name = "sqli-scanner"
    kind = "attack"
    description = "SQL injection scanner from a few addresses against one shop"
    default_minutes = 20.0

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        out = []
        for ts in arrivals(rng, lo, hi, self.rate * self.intensity):
            client = rng.choice(self.clients)
            payload = rng.choice(SQL_PAYLOADS)
            roll = rng.random()
            base = self.base_matches(client)
            if roll < 0.05:
                req = Request(
                    ts, self.domain, client, "GET", rng.choice(("/robots.txt", "/sitemap.xml")), ""
                )
                out.append(Planned(req, base))
                continue
            if roll < 0.8:
                path, param = rng.choice(PARAMS)
                value = payload if rng.random() < 0.5 else quote(payload, safe="")
                sub = (
                    "SQLi_QUERYARGUMENTS"
                    if rng.random() < 0.85
                    else "SQLiExtendedPatterns_QUERYARGUMENTS"
                )
                req = Request(
                    ts,
                    self.domain,
                    client,
                    "GET",
                    path,
                    f"{param}={value}",
                    details=[
                        {
                            "conditionType": "SQL_INJECTION",
                            "sensitivityLevel": "LOW",
                            "location": "ALL_QUERY_ARGS",
                            "matchedData": _tokens(payload),
                            "matchedFieldName": param,
                        }
                    ],
                    details_for=(R_SQLI, sub),
                )
            elif roll < 0.9:
                sub = "SQLi_COOKIE"
                cookie = b"," + header("cookie", f"session={payload}")
                req = Request(
                    ts, self.domain, client, "GET", "/account/orders", "", extra_headers=cookie
                )
            else:
                sub = "SQLi_BODY"
                req = Request(
                    ts,
                    self.domain,
                    client,
                    "POST",
                    "/login",
                    "",
                    body=len(quote(payload)) + 24,
                    content_type="application/x-www-form-urlencoded",
                    details=[
                        {
                            "conditionType": "SQL_INJECTION",
                            "sensitivityLevel": "LOW",
                            "location": "BODY",
                            "matchedData": _tokens(payload),
                        }
                    ],
                    details_for=(R_SQLI, sub),
                )
            out.append(Planned(req, (*base, (R_SQLI, sub))))
        return out


class XssScanner(_Scanner):
    name = "xss-scanner"
    kind = "attack"
    description = "Cross-site scripting probes (query, path, cookie) from a few addresses"
    default_minutes = 15.0
    rate = 4.0
    target_rule = R_CRS
    target_sub = "CrossSiteScripting_QUERYARGUMENTS"

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        out = []
        for ts in arrivals(rng, lo, hi, self.rate * self.intensity):
            client = rng.choice(self.clients)
            base = self.base_matches(client)
            payload = rng.choice(XSS_PAYLOADS)
            roll = rng.random()
            if roll < 0.7:
                path, param = rng.choice(PARAMS)
                value = payload if rng.random() < 0.5 else quote(payload, safe="")
                sub = "CrossSiteScripting_QUERYARGUMENTS"
                details = [
                    {
                        "conditionType": "XSS",
                        "location": "ALL_QUERY_ARGS",
                        "matchedData": ["<", "script"]
                        if "script" in payload.lower()
                        else ["on", "error"]
                        if "onerror" in payload
                        else ["javascript", ":"],
                        "matchedFieldName": param,
                    }
                ]
                req = Request(
                    ts,
                    self.domain,
                    client,
                    "GET",
                    path,
                    f"{param}={value}",
                    details=details,
                    details_for=(R_CRS, sub),
                )
                out.append(Planned(req, (*base, (R_CRS, sub))))
            elif roll < 0.82:
                sub = "CrossSiteScripting_URIPATH"
                req = Request(
                    ts,
                    self.domain,
                    client,
                    "GET",
                    "/search/" + payload,
                    "",
                    details=[
                        {"conditionType": "XSS", "location": "URI", "matchedData": ["<", "script"]}
                    ],
                    details_for=(R_CRS, sub),
                )
                out.append(Planned(req, (*base, (R_CRS, sub))))
            elif roll < 0.9:
                sub = "CrossSiteScripting_COOKIE"
                cookie = b"," + header("cookie", "lang=" + payload)
                req = Request(ts, self.domain, client, "GET", "/", "", extra_headers=cookie)
                out.append(Planned(req, (*base, (R_CRS, sub))))
            else:  # the same tool tries SQL in the same parameter
                path, param = rng.choice(PARAMS)
                sql = rng.choice(SQL_PAYLOADS)
                req = Request(
                    ts,
                    self.domain,
                    client,
                    "GET",
                    path,
                    f"{param}={sql}",
                    details=[
                        {
                            "conditionType": "SQL_INJECTION",
                            "sensitivityLevel": "LOW",
                            "location": "ALL_QUERY_ARGS",
                            "matchedData": _tokens(sql),
                            "matchedFieldName": param,
                        }
                    ],
                    details_for=(R_SQLI, "SQLi_QUERYARGUMENTS"),
                )
                out.append(Planned(req, (*base, (R_SQLI, "SQLi_QUERYARGUMENTS"))))
        return out


class CredentialStuffing(Scenario):
    name = "credential-stuffing"
    kind = "attack"
    description = "Credential stuffing on /login from rotating residential proxies, one TLS stack"
    default_minutes = 30.0
    per_ip_rate = 0.6

    def setup(self, rng: random.Random) -> None:
        self.acl, domains = self.pick_acl(("shop-eu-prod", "shop-us-prod"), R_RATE_LOGIN, ("shop",))
        self.domain: Domain = rng.choice(domains[:3])
        self.rule, self.rule_type = R_RATE_LOGIN, "RATE_BASED"
        rule = self.acl.rule(R_RATE_LOGIN)
        self.limit = rule.rate_limit if rule else 100
        self.window = (rule.window_sec if rule else 300) * 1000
        countries = ("US", "BR", "VN", "IN", "RU", "ID", "TR", "DE", "FR", "MX", "UA", "CN")
        ja4 = "t13d1812h1_85036bcba153_b26ce05bbdd6"  # the tool's TLS stack, whatever UA it claims
        self.clients = []
        for _ in range(max(3, int(40 * self.intensity))):
            country = rng.choice(countries)
            if country == "ID":
                country = "SG"
            base = browser_client(rng, country, rng.choice(BROWSERS))
            self.clients.append(
                Client(
                    base.ip,
                    base.country,
                    base.ua,
                    base.headers,
                    b"",
                    base.ja3,
                    ja4,
                    "HTTP/1.1",
                    "stuffing",
                )
            )
        self.seen: dict[str, deque[int]] = {}

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        out = []
        rate = self.per_ip_rate * len(self.clients)
        for ts in arrivals(rng, lo, hi, rate):
            client = self.clients[int(rng.random() * len(self.clients))]
            body = rng.randrange(70, 140)
            req = Request(
                ts,
                self.domain,
                client,
                "POST",
                "/login",
                "",
                body,
                "application/x-www-form-urlencoded",
                b"," + header("referer", f"https://{self.domain.name}/login"),
            )
            out.append(Planned(req))
        return out

    def decide(self, planned: Planned) -> Planned:
        ts = planned.request.ts
        window = self.seen.setdefault(planned.request.client.ip, deque())
        while window and window[0] <= ts - self.window:
            window.popleft()
        window.append(ts)
        if len(window) > self.limit:
            planned.matches = ((R_RATE_LOGIN, None),)
        return planned


_BOTS = (
    # weight, UA, Bot Control rule, extra rules, labels
    (
        30,
        "Scrapy/2.11.0 (+https://scrapy.org)",
        "CategoryScrapingFramework",
        (),
        ("bot:category:scraping_framework", "bot:name:scrapy", "bot:unverified"),
    ),
    (
        25,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/124.0.0.0 Safari/537.36",
        "SignalAutomatedBrowser",
        (),
        ("signal:automated_browser",),
    ),
    (
        15,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "CategorySearchEngine",
        (),
        ("bot:category:search_engine", "bot:name:googlebot", "bot:unverified"),
    ),
    (
        20,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "SignalKnownBotDataCenter",
        (),
        ("signal:known_bot_data_center",),
    ),
    (
        10,
        "python-requests/2.31.0",
        "CategoryHttpLibrary",
        ("SignalNonBrowserUserAgent",),
        (
            "bot:category:http_library",
            "bot:name:python_requests",
            "bot:unverified",
            "signal:non_browser_user_agent",
            "signal:known_bot_data_center",
        ),
    ),
)


class BadBots(Scenario):
    name = "bad-bots"
    kind = "attack"
    description = (
        "Scrapers, headless browsers, fake Googlebot and data-centre bots on product pages"
    )
    default_minutes = 45.0
    rate = 10.0

    def setup(self, rng: random.Random) -> None:
        self.acl, domains = self.pick_acl(("shop-us-prod", "shop-eu-prod"), R_BOT, ("shop",))
        self.domains = domains[:4]
        self.rule, self.rule_type = R_BOT, "MANAGED_RULE_GROUP"
        self.bots = []
        for weight, ua, rule, signals, labels in _BOTS:
            matches: tuple[Match, ...] = ((R_BOT, rule), *((R_BOT, s) for s in signals))
            if rule != "SignalKnownBotDataCenter" and "signal:known_bot_data_center" in labels:
                matches += ((R_BOT, "SignalKnownBotDataCenter"),)
            extra = tuple((R_BOT, BOT_LABEL + x) for x in labels)
            clients = []
            for _ in range(6):
                prefix, country = rng.choice(DATACENTRES)
                ip = f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                lib = rule == "CategoryHttpLibrary" or "Scrapy" in ua
                names = ("User-Agent", "Accept") if lib else ("user-agent", "accept")
                clients.append(
                    Client(
                        ip,
                        country,
                        ua,
                        headers_fragment(
                            [(names[0], ua), (names[1], "*/*" if lib else "text/html,*/*;q=0.8")]
                        ),
                        b"",
                        f"{rng.getrandbits(128):032x}",
                        "t13d1812h1_85036bcba153_b26ce05bbdd6",
                        "HTTP/1.1" if lib else "HTTP/2.0",
                        "bot",
                        capitalised=lib,
                    )
                )
            self.bots.append((weight, clients, matches, extra))
        self.weights = [b[0] for b in self.bots]
        self.slugs = [
            f"/products/{rng.choice(('trail', 'merino', 'urban'))}-"
            f"{rng.choice(('jacket', 'boots', 'tent'))}-{rng.randrange(1000, 99999)}"
            for _ in range(400)
        ]

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        out = []
        for ts in arrivals(rng, lo, hi, self.rate * self.intensity):
            _, clients, matches, extra = rng.choices(self.bots, weights=self.weights)[0]
            client = clients[int(rng.random() * len(clients))]
            domain = rng.choice(self.domains)
            if rng.random() < 0.7:
                uri, args = rng.choice(self.slugs), ""
            else:
                uri, args = (
                    "/category/" + rng.choice(("men", "women", "sale")),
                    f"page={rng.randrange(1, 60)}",
                )
            out.append(Planned(Request(ts, domain, client, "GET", uri, args), matches, extra))
        return out
