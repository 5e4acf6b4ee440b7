"""Baseline traffic: browsers from each domain's market (and travellers), verified search
and social bots, HTTP libraries, a mobile app on the API domains, and background noise,
on a diurnal curve. One deterministic RNG per 5-minute bucket, so the baseline does not
change when scenarios are added.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from ingest.generator.catalogue import BOT_LABEL, MARKETS, R_BOT, R_CRS
from ingest.generator.engine import Engine, Extra, Match, Verdict
from ingest.generator.geography import TRAVELLERS, seeded
from ingest.generator.noise import Noise
from ingest.generator.pages import PAGE_BITS, Page, page_tables
from ingest.generator.population import (
    GOOD_BOTS,
    HTTP_LIBRARIES,
    Bot,
    Client,
    bot_client,
    browser_client,
    header,
    headers_fragment,
)
from ingest.generator.records import RecordBuilder, Request
from ingest.generator.topology import Topology

BUCKET_MS = 300_000
NOISE_SHARE = 0.005
GOOD_BOT_SHARE = 0.035
LIBRARY_SHARE = 0.015
TRAVELLER_SHARE = 0.12
TOKEN_VALID_SHARE = 0.85
LARGE_BODY_SHARE = 0.002
BODY_LIMIT = 8192  # AWSManagedRulesCommonRuleSet SizeRestrictions_BODY threshold
SIZE_BODY: Match = (R_CRS, "SizeRestrictions_BODY")

SESSION_BITS = 6
SESSION_CHURN = 0.03  # about 33 requests per visitor session
TRAVELLERS_KEY = "*"
CHUNK_RECORDS = 24  # ~64 KB chunks: small buffers stay in cache, big ones page-fault
BOT_THRESHOLD = NOISE_SHARE + GOOD_BOT_SHARE
LIBRARY_THRESHOLD = BOT_THRESHOLD + LIBRARY_SHARE
TRAVELLER_THRESHOLD = 1.0 - TRAVELLER_SHARE

# (ts, acl index, serialised record, verdict), as scenarios produce them
Event = tuple[int, int, bytes, Verdict]


def diurnal(ts_ms: int) -> float:
    """Traffic multiplier by UTC hour: averages 1 over a day, peaks in the European evening."""
    hour = (ts_ms / 3_600_000.0) % 24.0
    return 1.0 + 0.45 * math.cos(2 * math.pi * (hour - 19.0) / 24.0)


def bot_outcome(bot: Bot) -> tuple[tuple[Match, ...], tuple[Extra, ...]]:
    matches: tuple[Match, ...] = ()
    if bot.category_rule:
        matches = ((R_BOT, bot.category_rule), *((R_BOT, s) for s in bot.signals))
    extra = tuple((R_BOT, BOT_LABEL + label) for label in bot.labels)
    return matches, extra


@dataclass(frozen=True, slots=True)
class _BotPool:
    clients: list[Client]
    matches: tuple[Match, ...]
    extra: tuple[Extra, ...]


class Baseline:
    def __init__(
        self,
        topology: Topology,
        engine: Engine,
        builder: RecordBuilder,
        seed: int,
        expected_requests: int,
    ) -> None:
        self.topology = topology
        self.engine = engine
        self.builder = builder
        self.seed = seed
        rng = seeded(seed, "population")
        self.pages = page_tables(rng)
        self.domain_bits, self.domain_table = topology.lookup_table()
        self.noise = Noise(rng)
        pool_size = min(max(expected_requests // 8, 4000), 120_000)
        share: dict[str, float] = {}
        for domain in topology.domains:
            share[domain.market] = share.get(domain.market, 0.0) + domain.weight
        self.pools: dict[str, list[Client]] = {}
        for country, _, _ in MARKETS:
            size = max(200, int(pool_size * share.get(country, 0.0)))
            if country in share:
                self.pools[country] = [browser_client(rng, country) for _ in range(size)]
        travellers = [c for c, _ in TRAVELLERS]
        weights = [w for _, w in TRAVELLERS]
        self.travellers = [
            browser_client(rng, c)
            for c in rng.choices(travellers, weights=weights, k=max(500, pool_size // 8))
        ]
        self.good_bots = self._bot_pools(rng, GOOD_BOTS, 40)
        self.libraries = self._bot_pools(rng, HTTP_LIBRARIES, 30)
        self.app_clients = self._app_clients(rng)
        self.referers = {d.index: self._referers(d.name) for d in topology.domains}
        # Active visitor sessions per market (a ring the hot loop picks from; churns slowly).
        self.active = {
            m: [rng.choice(p) for _ in range(1 << SESSION_BITS)] for m, p in self.pools.items()
        }
        self.active[TRAVELLERS_KEY] = [
            rng.choice(self.travellers) for _ in range(1 << SESSION_BITS)
        ]

    @staticmethod
    def _bot_pools(
        rng: random.Random, bots: tuple[tuple[Bot, float], ...], per_bot: int
    ) -> list[_BotPool]:
        pools = []
        for bot, weight in bots:
            matches, extra = bot_outcome(bot)
            clients = [
                bot_client(rng, bot, rng.choice(("US", "DE", "GB", "NL", "IE")))
                for _ in range(per_bot)
            ]
            pools.extend([_BotPool(clients, matches, extra)] * max(1, int(weight * 2)))
        return pools

    @staticmethod
    def _app_clients(rng: random.Random) -> list[Client]:
        clients = []
        for _ in range(2000):
            country = rng.choice(("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU"))
            base = browser_client(rng, country)
            version = f"5.{rng.randrange(8, 14)}.{rng.randrange(0, 4)}"
            if rng.random() < 0.5:
                ua = f"ShopApp/{version} (iPhone; iOS 17.{rng.randrange(2, 6)}; Scale/3.00)"
                ja4 = "t13d2014h2_a09f3c656075_14788d8d241b"
            else:
                device = rng.choice(("Pixel 8", "SM-S918B", "CPH2451"))
                ua = f"ShopApp/{version} (Android 14; {device})"
                ja4 = "t13d1713h2_5b57614c22b0_eca864cca44a"
            pairs = [
                ("user-agent", ua),
                ("accept", "application/json"),
                ("accept-encoding", "gzip"),
                ("x-app-platform", ua.split("(")[1].split(";")[0]),
            ]
            clients.append(
                Client(
                    base.ip,
                    country,
                    ua,
                    headers_fragment(pairs),
                    b"",
                    base.ja3,
                    ja4,
                    "HTTP/2.0",
                    "app",
                )
            )
        return clients

    @staticmethod
    def _referers(name: str) -> list[bytes]:
        options = [
            b"",
            b"",
            b"",
            b"",
            b"," + header("referer", f"https://{name}/"),
            b"," + header("referer", f"https://{name}/category/sale"),
            b"," + header("referer", "https://www.google.com/"),
            b"," + header("referer", "https://www.instagram.com/"),
        ]
        return options

    def expected(self, start_ms: int, end_ms: int, rps: float) -> float:
        return rps * (end_ms - start_ms) / 1000.0 * diurnal((start_ms + end_ms) // 2)

    def bucket(
        self,
        lo: int,
        hi: int,
        rps: float,
        events: list[Event],
        buffers: list[list[bytes]],
        spill: Callable[[int], None],
        counts: list[int],
    ) -> int:
        """Generate the baseline of [lo, hi) in time order into ``buffers`` (records, one list
        per web ACL), interleaving the sorted scenario ``events``; ``spill(acl)`` is called
        when a buffer holds CHUNK_RECORDS; ``counts[verdict.slot]`` counts baseline
        records by verdict. Returns the number of baseline records."""
        rng = seeded(self.seed, "baseline", lo)
        r = rng.random
        bits = rng.getrandbits
        mean = self.expected(lo, hi, rps)
        count = max(0, int(rng.gauss(mean, math.sqrt(mean)) + 0.5)) if mean > 0 else 0
        span = hi - lo
        stamps = sorted(lo + int(r() * span) for _ in range(count))
        stamps.append(hi + 1)  # sentinel: flushes the remaining scenario events
        table, dbits = self.domain_table, self.domain_bits
        pages, pools, travellers = self.pages, self.pools, self.travellers
        active = self.active
        good_bots, libraries, apps = self.good_bots, self.libraries, self.app_clients
        verdict_of, assemble, build = self.engine.verdict, self.builder.assemble, self.builder.build
        referers = self.referers
        position, pending = 0, len(events)
        next_event = events[0][0] if events else hi + 2
        for ts in stamps:
            if ts >= next_event:
                while position < pending and events[position][0] <= ts:
                    _, index, data, _ = events[position]
                    buf = buffers[index]
                    buf.append(data)
                    if len(buf) >= CHUNK_RECORDS:
                        spill(index)
                    position += 1
                next_event = events[position][0] if position < pending else hi + 2
            if ts > hi:
                break
            domain = table[bits(dbits)]
            acl = domain.acl
            x = r()
            if x < NOISE_SHARE:
                noisy = self.noise.request(rng)
                verdict = verdict_of(acl, noisy.matches)
                req = Request(
                    ts,
                    domain,
                    noisy.client,
                    noisy.method,
                    noisy.uri,
                    noisy.args,
                    noisy.body,
                    noisy.content_type,
                    b"",
                    False,
                    noisy.extra_headers,
                )
                data = build(rng, req, verdict)
            else:
                page: Page = pages[domain.kind][bits(PAGE_BITS)]
                matches = page.matches
                extra: tuple[Extra, ...] = ()
                if domain.kind == "api" and x < 0.6:
                    client = apps[int(r() * len(apps))]
                elif x < BOT_THRESHOLD:
                    pool = good_bots[int(r() * len(good_bots))]
                    client = pool.clients[int(r() * len(pool.clients))]
                    matches, extra = matches + pool.matches, pool.extra
                elif x < LIBRARY_THRESHOLD:
                    pool = libraries[int(r() * len(libraries))]
                    client = pool.clients[int(r() * len(pool.clients))]
                    matches, extra = matches + pool.matches, pool.extra
                else:  # a visitor session: a few dozen requests from one client
                    market = TRAVELLERS_KEY if x > TRAVELLER_THRESHOLD else domain.market
                    ring = active.get(market) or active[TRAVELLERS_KEY]
                    slot = bits(SESSION_BITS)
                    client = ring[slot]
                    if r() < SESSION_CHURN:
                        fresh = pools.get(market) or travellers
                        client = ring[slot] = fresh[int(r() * len(fresh))]
                body = 0
                if page.body_hi:
                    body = page.body_lo + int(r() * (page.body_hi - page.body_lo))
                    if r() < LARGE_BODY_SHARE:  # the odd legitimate oversized form
                        body += BODY_LIMIT
                    if body > BODY_LIMIT:
                        matches = (*matches, SIZE_BODY)
                token_valid = r() < TOKEN_VALID_SHARE if page.token else True
                verdict = verdict_of(acl, matches, extra, token_valid)
                data = assemble(
                    rng,
                    ts,
                    domain,
                    client,
                    page.method,
                    page.uri_piece,
                    verdict,
                    referers[domain.index][bits(3)],
                    r() < 0.55,
                    body,
                    page.content_type,
                )
            buf = buffers[acl.index]
            buf.append(data)
            if len(buf) >= CHUNK_RECORDS:
                spill(acl.index)
            counts[verdict.slot] += 1
        return count
