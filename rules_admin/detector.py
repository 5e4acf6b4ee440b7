"""The false-positive detector: finds rules whose blocks spike on customers and switches
them to COUNT — only rules in ALLOW_RULES, never PROTECTED_RULES, at most N an hour, a
cooldown per rule, a TTL on every override, dry run unless told to apply.

:meth:`Detector.evaluate` reads the numbers for one moment through :mod:`query.rule_stats`
(both tiers) and returns a :class:`Decision` per spiking rule; :meth:`Detector.run`
applies the false positives through :class:`OverrideService` (actor ``detector``, the
evidence stored in the audit record); :meth:`Detector.backtest` walks a past range
without writing, simulating the safety limits in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from opensearchpy import OpenSearch

from query.filters import Filter, iso
from query.rule_stats import RuleKey, ips_matching, rule_breakdowns, rule_counts
from query.service import QueryContext
from rules_admin.audit import IN_FORCE
from rules_admin.detector_logic import Features, features, gate, is_spike, judge
from rules_admin.overrides import OverrideError, OverrideService
from wafsiem.metrics import Metrics
from wafsiem.settings import DetectorSettings, Settings

log = logging.getLogger(__name__)

ACTOR = "detector"
DIMENSIONS = ("client_ip", "country", "path", "query", "user_agent", "ja4")

Target = tuple[str, str | None, str | None]  # (web ACL ARN, rule, sub_rule)


@dataclass
class Decision:
    at: datetime
    key: RuleKey
    action: str  # override | skip | keep
    verdict: str  # false_positive | attack
    reasons: list[str]
    features: Features
    window: tuple[datetime, datetime]
    baseline: tuple[datetime, datetime]
    blocked_by: str | None = None
    result: str | None = None  # applied | unverified | unchanged | dry_run | refused | failed
    override_id: str | None = None
    error: str | None = None

    def evidence(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "window": {"from": iso(self.window[0]), "to": iso(self.window[1])},
            "baseline": {"from": iso(self.baseline[0]), "to": iso(self.baseline[1])},
            **self.features.evidence(),
            **({"blocked_by": self.blocked_by} if self.blocked_by else {}),
        }

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": iso(self.at),
            "webacl": self.key.webacl,
            "webacl_arn": self.key.webacl_arn,
            "rule": self.key.rule,
            "sub_rule": self.key.sub_rule,
            "action": self.action,
            "evidence": self.evidence(),
        }
        for name in ("result", "override_id", "error"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


class History(Protocol):
    """What the safety limits need to know about earlier overrides."""

    def active(self, target: Target) -> bool: ...
    def minutes_since_last(self, target: Target, now: datetime) -> float | None: ...
    def count_last_hour(self, now: datetime) -> int: ...
    def record(self, target: Target, at: datetime) -> None: ...


class AuditHistory:
    """Earlier overrides from the audit index (so limits survive restarts)."""

    def __init__(self, service: OverrideService) -> None:
        self.audit = service.audit

    def _overrides(self, target: Target, **filters: str | list[str]) -> list[dict[str, Any]]:
        arn, rule, sub_rule = target
        docs = self.audit.search(
            filters={
                "kind": "override",
                "result": IN_FORCE,
                "webacl": arn,
                "rule": rule or "",
                **filters,
            },
            limit=200,
        )
        return [d for d in docs if (d.get("sub_rule") or None) == sub_rule]

    def active(self, target: Target) -> bool:
        return bool(self._overrides(target, state=["active", "reverting"]))

    def minutes_since_last(self, target: Target, now: datetime) -> float | None:
        docs = self._overrides(target, actor=ACTOR)
        if not docs:
            return None
        last = max(datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")) for d in docs)
        return (now - last).total_seconds() / 60

    def count_last_hour(self, now: datetime) -> int:
        docs = self.audit.search(
            filters={"kind": "override", "result": IN_FORCE, "actor": ACTOR},
            since=now - timedelta(hours=1),
            limit=1000,
        )
        return len(docs)

    def record(self, target: Target, at: datetime) -> None:
        """Nothing to do: the override service wrote the audit record."""


class SimulatedHistory:
    """Earlier decisions of a backtest: an override stays active for its TTL."""

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self.done: list[tuple[Target, datetime]] = []
        self.now: datetime | None = None

    def active(self, target: Target) -> bool:
        now = self.now
        return any(t == target and now is not None and at + self.ttl > now for t, at in self.done)

    def minutes_since_last(self, target: Target, now: datetime) -> float | None:
        times = [at for t, at in self.done if t == target]
        return (now - max(times)).total_seconds() / 60 if times else None

    def count_last_hour(self, now: datetime) -> int:
        return sum(1 for _, at in self.done if now - timedelta(hours=1) < at <= now)

    def record(self, target: Target, at: datetime) -> None:
        self.done.append((target, at))


class Detector:
    def __init__(
        self,
        ctx: QueryContext,
        cfg: DetectorSettings,
        *,
        overrides: OverrideService | None = None,
        webacl_arn: Callable[[RuleKey], str] | None = None,
    ) -> None:
        """``webacl_arn`` maps a rule key to the ARN to override (default: the ARN in
        the logs)."""
        self.ctx = ctx
        self.cfg = cfg
        self.overrides = overrides
        self.webacl_arn = webacl_arn or (lambda key: key.webacl_arn)

    def target(self, key: RuleKey) -> Target:
        return (self.webacl_arn(key), key.rule, key.sub_rule)

    # -- judging one moment -----------------------------------------------------------

    def evaluate(
        self, at: datetime, history: History, now: datetime | None = None
    ) -> list[Decision]:
        """A decision for every rule whose blocks spike in the window ending at ``at``."""
        cfg = self.cfg
        window = Filter(start=at - timedelta(minutes=cfg.window_minutes), end=at, action=("BLOCK",))
        before = window.with_range(
            window.start - timedelta(minutes=cfg.baseline_minutes), window.start
        )
        counts = rule_counts(self.ctx, window)
        if not any(n >= cfg.min_blocks for n in counts.values()):
            return []
        baseline = rule_counts(self.ctx, before)
        spiking = []
        for key, blocks in counts.items():
            quick = Features(blocks, baseline.get(key, 0), cfg.window_minutes, cfg.baseline_minutes)
            if key.rule and is_spike(quick, cfg):
                spiking.append(key)
        if not spiking:
            return []
        parts = rule_breakdowns(self.ctx, window, DIMENSIONS)
        ips = parts["client_ip"]
        decisions = []
        for key in sorted(
            spiking, key=lambda k: (-counts[k], k.webacl or "", k.rule or "", k.sub_rule or "")
        ):
            mine = {ip for ip in ips.get(key, Counter()) if ip is not None}
            others = {ip for other, c in ips.items() if other != key for ip in c if ip in mine}
            known = ips_matching(
                self.ctx,
                replace(window, start=before.start, action=("ALLOW",), webacl=(key.webacl_arn,)),
                mine,
            )
            f = features(
                blocks=counts[key],
                baseline_blocks=baseline.get(key, 0),
                window_minutes=cfg.window_minutes,
                baseline_minutes=cfg.baseline_minutes,
                ips=ips.get(key, Counter()),
                countries=parts["country"].get(key, Counter()),
                paths=parts["path"].get(key, Counter()),
                queries=parts["query"].get(key, Counter()),
                user_agents=parts["user_agent"].get(key, Counter()),
                ja4s=parts["ja4"].get(key, Counter()),
                other_rule_ips=others,
                known_ips=known,
                rule=key.rule,
                sub_rule=key.sub_rule,
            )
            judgement = judge(f, cfg)
            decision = Decision(
                at=at,
                key=key,
                action="keep",
                verdict=judgement.verdict,
                reasons=judgement.reasons,
                features=f,
                window=(window.start, window.end),
                baseline=(before.start, before.end),
            )
            if judgement.verdict == "false_positive":
                target = self.target(key)
                moment = now or at
                door = gate(
                    key.rule,
                    key.sub_rule,
                    cfg,
                    active=history.active(target),
                    minutes_since_last=history.minutes_since_last(target, moment),
                    overrides_last_hour=history.count_last_hour(moment),
                )
                decision.action = door.action
                if door.blocked_by:
                    decision.blocked_by = door.blocked_by
                    decision.reasons = [*decision.reasons, door.detail]
                else:
                    history.record(target, moment)  # counts toward the limits of this round
            decisions.append(decision)
        return decisions

    # -- acting -------------------------------------------------------------------------

    def run(self, at: datetime, now: datetime, *, apply: bool) -> list[Decision]:
        """Judge the window ending at ``at``; with ``apply`` switch each false positive
        that passes the safety limits to COUNT (else nothing is written)."""
        if self.overrides is None:
            raise ValueError("Detector.run needs an OverrideService")
        if apply:  # settle unknown writes and expire due overrides first, serve or not
            self.overrides.maintain(now)
        decisions = self.evaluate(at, _Round(AuditHistory(self.overrides)), now)
        for decision in decisions:
            if decision.action != "override":
                continue
            if not apply:
                decision.result = "dry_run"
                continue
            arn, rule, sub_rule = self.target(decision.key)
            try:
                record = self.overrides.override(
                    arn,
                    rule or "",
                    sub_rule,
                    reason=_reason(decision),
                    actor=ACTOR,
                    ttl_minutes=self.cfg.ttl_minutes,
                    evidence=decision.evidence(),
                    automatic=True,
                )
            except OverrideError as exc:
                guardrail = (exc.record or {}).get("guardrail")
                if guardrail:  # the service's shared limits (another process got there)
                    decision.action, decision.blocked_by = "skip", guardrail
                    decision.reasons = [*decision.reasons, exc.message]
                    decision.result = "refused"
                    continue
                decision.result, decision.error = "failed", exc.message
                log.warning("detector override of %s failed: %s", decision.key.label(), exc.message)
                continue
            decision.result, decision.override_id = record["result"], record["id"]
        return decisions

    def backtest(self, start: datetime, end: datetime, step: timedelta) -> Iterator[Decision]:
        """Every decision from ``start`` to ``end`` (inclusive) each ``step``; writes nothing."""
        history = SimulatedHistory(timedelta(minutes=self.cfg.ttl_minutes))
        at = start
        while at <= end:
            history.now = at
            yield from self.evaluate(at, history)
            at += step


class _Round:
    """The audit's history plus this round's own overrides (gated before any is
    written, so they must count toward the round's limits)."""

    def __init__(self, inner: History) -> None:
        self.inner = inner
        self.mine: list[tuple[Target, datetime]] = []

    def active(self, target: Target) -> bool:
        return self.inner.active(target)

    def minutes_since_last(self, target: Target, now: datetime) -> float | None:
        if any(t == target for t, _ in self.mine):
            return 0.0
        return self.inner.minutes_since_last(target, now)

    def count_last_hour(self, now: datetime) -> int:
        return self.inner.count_last_hour(now) + len(self.mine)

    def record(self, target: Target, at: datetime) -> None:
        self.mine.append((target, at))


def _reason(decision: Decision) -> str:
    f = decision.features
    return (
        f"detector: false-positive spike on {decision.key.label()}: {f.blocks} blocks vs "
        f"{f.expected_blocks:.1f} expected (x{f.spike_ratio}), {f.client_ips} client IPs in "
        f"{f.countries} countries, browser share {f.browser_share}, known clients "
        f"{f.known_client_share}"
    )


def detector_from_settings(
    settings: Settings, opensearch: OpenSearch, s3: Any, overrides: OverrideService
) -> Detector:
    from tiering.store import open_store

    store = open_store(settings.cold_uri, settings, s3)
    ctx = QueryContext.from_settings(settings, opensearch, store)
    return Detector(ctx, settings.detector, overrides=overrides)


async def detector_loop(
    detector: Detector, interval: float, metrics: Metrics | None = None
) -> None:
    """Judge the last window every ``interval`` seconds (blocking calls in a worker
    thread); applies only when the APPLY setting is on. A failed round is logged.
    Decisions and rounds are counted in ``metrics`` when given."""
    while True:
        await asyncio.sleep(interval)
        try:
            now = datetime.now(UTC)
            done = await asyncio.to_thread(detector.run, now, now, apply=detector.cfg.apply)
            for decision in done:
                log.info(
                    "detector: %s %s (%s)",
                    decision.action,
                    decision.key.label(),
                    decision.result or decision.verdict,
                    extra={"decision": decision.as_json()},
                )
                if metrics is not None:
                    metrics.record_decision(decision.action, decision.result)
        except Exception:
            log.exception("detector round failed")
            if metrics is not None:
                metrics.record_loop_round("detector", ok=False)
        else:
            if metrics is not None:
                metrics.record_loop_round("detector", ok=True)
