"""False-positive scenarios: legitimate traffic that a managed rule blocks.

* ``fp-size-body``: after a release the checkout POST carries the whole cart state, so
  bodies exceed 8 KB and AWSManagedRulesCommonRuleSet ``SizeRestrictions_BODY`` blocks
  thousands of distinct customers in many countries, who retry.
* ``fp-xss-body``: CMS editors save pages with embedded ``<iframe>``/``<script>`` snippets;
  ``CrossSiteScripting_BODY`` blocks a few dozen staff from office and home addresses.
"""

from __future__ import annotations

import random

from ingest.generator.catalogue import R_CRS
from ingest.generator.engine import Match
from ingest.generator.geography import TRAVELLERS
from ingest.generator.population import BROWSERS, Client, browser_client, header
from ingest.generator.records import Request
from ingest.generator.scenarios import Planned, Scenario, arrivals

SIZE_BODY: Match = (R_CRS, "SizeRestrictions_BODY")
XSS_BODY: Match = (R_CRS, "CrossSiteScripting_BODY")
BROWSERS_OFFICE = [b for b in BROWSERS if not b.mobile]


class FpSizeBody(Scenario):
    name = "fp-size-body"
    kind = "false_positive"
    description = (
        "Release makes checkout POST bodies exceed 8 KB: SizeRestrictions_BODY blocks "
        "legitimate customers"
    )
    default_minutes = 60.0
    expected_response = "override_to_count"
    customers_per_second = 3.0
    small_cart_share = 0.15

    def setup(self, rng: random.Random) -> None:
        self.acl, domains = self.pick_acl(
            ("shop-eu-prod", "shop-apac-prod", "storefront-cdn"),
            R_CRS,
            ("shop", "mobile"),
            "SizeRestrictions_BODY",
        )
        self.rule, self.rule_type, self.sub_rule = (
            R_CRS,
            "MANAGED_RULE_GROUP",
            "SizeRestrictions_BODY",
        )
        self.domains = domains
        self.weights = [d.weight for d in domains]
        self.travellers = [c for c, _ in TRAVELLERS]
        self.traveller_weights = [w for _, w in TRAVELLERS]

    def _customer(self, rng: random.Random, market: str) -> Client:
        country = market
        if rng.random() < 0.3:
            country = rng.choices(self.travellers, weights=self.traveller_weights)[0]
        return browser_client(rng, country)

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        out = []
        limit = self.acl.body_limit
        for ts in arrivals(rng, lo, hi, self.customers_per_second * self.intensity):
            domain = rng.choices(self.domains, weights=self.weights)[0]
            client = self._customer(rng, domain.market)
            small = rng.random() < self.small_cart_share
            referer = b"," + header("referer", f"https://{domain.name}/checkout")
            attempts = 1
            while attempts < 6 and rng.random() < 0.6:  # customers retry
                attempts += 1
            when = ts
            for _ in range(attempts):
                body = rng.randrange(2500, 7800) if small else rng.randrange(8300, 8192 + 3 * limit)
                req = Request(
                    when,
                    domain,
                    client,
                    "POST",
                    "/checkout/payment",
                    "",
                    body,
                    "application/x-www-form-urlencoded",
                    referer,
                    True,
                )
                out.append(Planned(req, (SIZE_BODY,) if body > 8192 else ()))
                if small:
                    break
                when += rng.randrange(3_000, 45_000)
        return out


class FpXssBody(Scenario):
    name = "fp-xss-body"
    kind = "false_positive"
    description = (
        "CMS editors save pages with embedded video/script snippets: "
        "CrossSiteScripting_BODY blocks staff"
    )
    default_minutes = 40.0
    expected_response = "override_to_count"
    saves_per_second = 0.6

    def setup(self, rng: random.Random) -> None:
        self.acl, domains = self.pick_acl(
            ("corp-web",), R_CRS, ("corp",), "CrossSiteScripting_BODY"
        )
        self.rule, self.rule_type, self.sub_rule = (
            R_CRS,
            "MANAGED_RULE_GROUP",
            "CrossSiteScripting_BODY",
        )
        self.domain = domains[0]
        offices = [
            ("DE", f"91.{rng.randrange(10, 250)}.{rng.randrange(256)}"),
            ("GB", f"81.{rng.randrange(10, 250)}.{rng.randrange(256)}"),
            ("US", f"73.{rng.randrange(10, 250)}.{rng.randrange(256)}"),
        ]
        self.editors: list[Client] = []
        for index in range(max(2, int(30 * self.intensity))):
            country, prefix = offices[index % len(offices)]
            ip = f"{prefix}.{rng.randrange(1, 8)}" if rng.random() < 0.7 else None
            browser = BROWSERS_OFFICE[index % len(BROWSERS_OFFICE)]
            self.editors.append(browser_client(rng, country, browser, ip))
        self.pages = [rng.randrange(1000, 9999) for _ in range(60)]

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        out = []
        rate = self.saves_per_second * max(1.0, self.intensity)
        for ts in arrivals(rng, lo, hi, rate):
            editor = self.editors[int(rng.random() * len(self.editors))]
            page = rng.choice(self.pages)
            referer = b"," + header(
                "referer", f"https://{self.domain.name}/admin/cms/pages/{page}/edit"
            )
            roll = rng.random()
            if roll < 0.35:
                req = Request(
                    ts,
                    self.domain,
                    editor,
                    "GET",
                    f"/admin/cms/api/pages/{page}",
                    "",
                    referer=referer,
                    cookie=True,
                )
                out.append(Planned(req))
                continue
            embed = rng.random() < 0.8
            snippet = rng.choice(("iframe", "script")) if embed else ""
            body = rng.randrange(1800, 7600)
            if roll < 0.8:
                uri, ctype = f"/admin/cms/api/pages/{page}/revisions", "application/json"
            else:
                uri, ctype = "/admin/cms/upload", "multipart/form-data; boundary=----cmsBoundary"
            req = Request(
                ts,
                self.domain,
                editor,
                "POST",
                uri,
                "",
                body,
                ctype,
                referer,
                True,
                details=[
                    {"conditionType": "XSS", "location": "BODY", "matchedData": ["<", snippet]}
                ]
                if embed
                else None,
                details_for=(R_CRS, "CrossSiteScripting_BODY"),
            )
            out.append(Planned(req, (XSS_BODY,) if embed else ()))
        return out
