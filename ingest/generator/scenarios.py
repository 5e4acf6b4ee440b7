"""Scenario framework: a scenario adds labelled traffic over a time window and keeps the
tally its ground truth is made from. Concrete scenarios live in ``attacks`` and
``false_positives``; ``SCENARIOS`` maps CLI names to classes.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from ingest.generator.catalogue import WebAcl
from ingest.generator.engine import Engine, Extra, Match, Verdict
from ingest.generator.geography import seeded
from ingest.generator.models import Kind, RuleCount, ScenarioTruth
from ingest.generator.records import RecordBuilder, Request
from ingest.generator.topology import Domain, Topology
from ingest.generator.traffic import Baseline, Event


@dataclass(slots=True)
class Planned:
    """One request a scenario wants to send, with what it matches."""

    request: Request
    matches: tuple[Match, ...] = ()
    extra: tuple[Extra, ...] = ()
    token_valid: bool = True


@dataclass
class Context:
    topology: Topology
    engine: Engine
    builder: RecordBuilder
    baseline: Baseline
    seed: int


@dataclass
class Tally:
    records: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[tuple[str, str, str | None, str | None, str]] = field(default_factory=Counter)
    ips: set[str] = field(default_factory=set)
    matched_ips: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    paths: Counter[str] = field(default_factory=Counter)

    def add(self, req: Request, verdict: Verdict, matched: bool) -> None:
        self.records += 1
        self.by_action[verdict.action] += 1
        self.by_rule[
            (
                verdict.terminating_rule_id,
                verdict.terminating_rule_type,
                verdict.group,
                verdict.sub_rule,
                verdict.action,
            )
        ] += 1
        self.ips.add(req.client.ip)
        if matched:
            self.matched_ips.add(req.client.ip)
        self.countries.add(req.client.country)
        self.hosts.add(req.domain.name)
        self.paths[req.uri] += 1


def arrivals(rng: random.Random, lo: int, hi: int, rate: float) -> list[int]:
    """Sorted arrival times (ms) in [lo, hi) for a Poisson process of ``rate`` per second."""
    mean = rate * (hi - lo) / 1000.0
    if mean <= 0:
        return []
    count = max(0, int(rng.gauss(mean, mean**0.5) + 0.5))
    span = hi - lo
    return sorted(lo + int(rng.random() * span) for _ in range(count))


class Scenario:
    name: ClassVar[str]
    kind: ClassVar[Kind]
    description: ClassVar[str]
    default_minutes: ClassVar[float]
    expected_response: ClassVar[str] = "keep_blocking"

    # the intended rule: set by setup()
    acl: WebAcl
    rule: str
    rule_type: str
    sub_rule: str | None = None
    label: str | None = None
    action: str = "BLOCK"

    def __init__(
        self, ctx: Context, sid: str, start_ms: int, end_ms: int, intensity: float
    ) -> None:
        self.ctx = ctx
        self.id = sid
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.intensity = intensity
        self.tally = Tally()
        self._carry: list[Planned] = []
        self.setup(seeded(ctx.seed, sid, "setup"))

    # --- for subclasses
    def setup(self, rng: random.Random) -> None:
        raise NotImplementedError

    def plan(self, rng: random.Random, lo: int, hi: int) -> list[Planned]:
        """Requests starting in [lo, hi); they may carry later timestamps (retries)."""
        raise NotImplementedError

    def decide(self, planned: Planned) -> Planned:
        """Last look at a request in time order (stateful rules, e.g. rate limits)."""
        return planned

    # --- helpers
    def pick_acl(
        self,
        preferred: tuple[str, ...],
        rule: str,
        kinds: tuple[str, ...],
        sub_rule: str | None = None,
    ) -> tuple[WebAcl, list[Domain]]:
        """The first preferred ACL that has ``rule`` (with ``sub_rule`` not overridden) and
        fronts domains of ``kinds``; else any such ACL."""
        topo = self.ctx.topology
        names = list(preferred) + [a.name for a in topo.acls if a.name not in preferred]
        for name in names:
            acl = topo.acl(name)
            acl_rule = acl.rule(rule)
            if acl_rule is None or (sub_rule and acl_rule.override(sub_rule)):
                continue
            domains = topo.domains_of(name, kinds)
            if domains:
                return acl, domains
        domains = topo.domains
        return domains[0].acl, [domains[0]]

    # --- driver
    def bucket(self, start_ms: int, end_ms: int) -> list[Event]:
        lo, hi = max(start_ms, self.start_ms), min(end_ms, self.end_ms)
        planned = [p for p in self._carry if p.request.ts < self.end_ms]
        self._carry = []
        if lo < hi:
            rng = seeded(self.ctx.seed, self.id, start_ms)
            planned.extend(self.plan(rng, lo, hi))
        # the window is hard: retries that would fall after it are dropped
        planned = [p for p in planned if p.request.ts < self.end_ms]
        planned.sort(key=lambda p: p.request.ts)
        now = [p for p in planned if p.request.ts < end_ms]
        self._carry = [p for p in planned if p.request.ts >= end_ms]
        if not now:
            return []
        rng = seeded(self.ctx.seed, self.id, start_ms, "records")
        engine, builder = self.ctx.engine, self.ctx.builder
        events: list[Event] = []
        for item in now:
            item = self.decide(item)
            req = item.request
            verdict = engine.verdict(req.domain.acl, item.matches, item.extra, item.token_valid)
            matched = verdict.terminating_rule_id == self.rule and (
                self.sub_rule is None or verdict.sub_rule == self.sub_rule
            )
            self.tally.add(req, verdict, matched)
            events.append((req.ts, req.domain.acl.index, builder.build(rng, req, verdict), verdict))
        return events

    def truth(self) -> ScenarioTruth:
        t = self.tally
        rules = [
            RuleCount(rule=r, rule_type=typ, group=g, sub_rule=s, action=a, records=n)
            for (r, typ, g, s, a), n in sorted(t.by_rule.items(), key=lambda kv: (-kv[1], kv[0][0]))
        ]
        group = None
        acl_rule = self.acl.rule(self.rule)
        if acl_rule is not None and acl_rule.group is not None:
            group = acl_rule.group.group_id
        sub_rule = self.sub_rule
        if sub_rule is None and group is not None:  # the group's most frequent sub-rule
            subs = Counter({k[3]: n for k, n in t.by_rule.items() if k[0] == self.rule and k[3]})
            sub_rule = subs.most_common(1)[0][0] if subs else None
        label = self.label
        if label is None and acl_rule is not None and acl_rule.group is not None and sub_rule:
            label = acl_rule.group.rule(sub_rule).label
        matched = sum(
            n
            for k, n in t.by_rule.items()
            if k[0] == self.rule and (sub_rule is None or k[3] == sub_rule)
        )
        ips = sorted(t.matched_ips or t.ips)
        return ScenarioTruth(
            id=self.id,
            name=self.name,
            kind=self.kind,
            description=self.description,
            webacl_name=self.acl.name,
            webacl_arn=self.acl.arn,
            rule=self.rule,
            rule_type=self.rule_type,
            group=group,
            sub_rule=sub_rule,
            label=label,
            action=self.action,
            expected_response=self.expected_response,
            start=datetime.fromtimestamp(self.start_ms / 1000, UTC),
            end=datetime.fromtimestamp(self.end_ms / 1000, UTC),
            intensity=self.intensity,
            records=t.records,
            records_by_action=dict(sorted(t.by_action.items())),
            rules=rules,
            matched_records=matched,
            distinct_client_ips=len(t.matched_ips or t.ips),
            client_ips=ips if len(ips) <= 100 else ips[:: max(1, len(ips) // 100)][:100],
            countries=sorted(t.countries),
            hosts=sorted(t.hosts),
            paths=[p for p, _ in t.paths.most_common(10)],
        )


def registry() -> dict[str, type[Scenario]]:
    from ingest.generator.attacks import BadBots, CredentialStuffing, SqliScanner, XssScanner
    from ingest.generator.false_positives import FpSizeBody, FpXssBody

    classes: list[type[Scenario]] = [
        SqliScanner,
        XssScanner,
        CredentialStuffing,
        BadBots,
        FpSizeBody,
        FpXssBody,
    ]
    return {cls.name: cls for cls in classes}
