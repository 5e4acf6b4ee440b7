"""The checks every override passes, whoever asks (API, CLI, triage page, detector).

* protected rules (``RULES__PROTECTED_RULES`` and ``DETECTOR__PROTECTED_RULES``) are
  refused unless an ``admin`` asks with ``force``;
* every override expires: a default TTL when none is given, never above the maximum;
* an hourly cap for everyone together, and for automatic overrides (the detector) its
  own cap and a cooldown per rule — held across processes by :class:`OverrideBudget`.

The budget is one document in the state index (per audit index) listing the grants of the last hour.
Taking a grant reads it, checks the limits and writes it back with ``if_seq_no`` /
``if_primary_term``: of two processes that read the same document only one write
succeeds; the other reads again and sees the first one's grant, so two detectors at
once can never both pass a cap of one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opensearchpy import ConflictError, NotFoundError, OpenSearch

from rules_admin.audit import parse_iso
from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings
from wafsiem.state_index import ensure_state_index

BUDGET_ID = "override-budget"
CAS_ATTEMPTS = 20
WINDOW = timedelta(hours=1)


def matches(entries: Iterable[str], rule: str | None, sub_rule: str | None) -> str | None:
    """The first entry naming the target (``*``, ``Rule``, ``SubRule`` or ``Rule:SubRule``)."""
    for entry in entries:
        name, sep, sub = entry.partition(":")
        if entry == "*":
            return entry
        if sep and name == rule and sub == sub_rule:
            return entry
        if not sep and entry in (rule, sub_rule):
            return entry
    return None


class GuardrailRefusal(WafsiemError):
    """An override a guardrail refuses; ``guardrail`` names which."""

    def __init__(self, guardrail: str, message: str, status: int, hint: str | None = None):
        super().__init__(message, hint=hint, status=status)
        self.guardrail = guardrail


def protected_by(settings: Settings, rule: str, sub_rule: str | None) -> str | None:
    """The entry protecting the target. A protected ``Group:SubRule`` also protects its
    whole group: switching the group to COUNT would switch the sub-rule with it."""
    entries = [*settings.rules.protected_rules, *settings.detector.protected_rules]
    found = matches(entries, rule, sub_rule)
    if found is None and sub_rule is None:
        found = next((e for e in entries if e.partition(":")[0] == rule and ":" in e), None)
    return found


def check_protected(
    settings: Settings, rule: str, sub_rule: str | None, *, force: bool, admin: bool
) -> str | None:
    """The protecting entry when an admin forces past it; raises when not allowed."""
    entry = protected_by(settings, rule, sub_rule)
    if entry is None:
        return None
    if force and admin:
        return entry
    label = f"{rule}:{sub_rule}" if sub_rule else rule
    if force:
        raise GuardrailRefusal(
            "protected", f"{label} is protected by {entry!r}: only an admin may force it", 403
        )
    raise GuardrailRefusal(
        "protected",
        f"{label} is protected by {entry!r}: it is never switched to COUNT",
        403,
        hint="an admin key (or the CLI) may pass force=true, and the audit record says so",
    )


def checked_ttl(settings: Settings, ttl_minutes: int | None) -> int:
    """The TTL to use: the default when none is given; refused beyond the maximum."""
    cfg = settings.rules
    ttl = cfg.default_ttl_minutes if ttl_minutes is None else ttl_minutes
    if not 1 <= ttl <= cfg.max_ttl_minutes:
        raise GuardrailRefusal(
            "ttl", f"ttl_minutes must be 1..{cfg.max_ttl_minutes} (got {ttl})", 422
        )
    return ttl


@dataclass(frozen=True)
class Limits:
    """What a grant must respect; ``automatic`` limits apply to automatic actors only."""

    per_hour: int
    automatic_per_hour: int
    cooldown: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.rules.max_overrides_per_hour,
            settings.detector.max_overrides_per_hour,
            timedelta(minutes=settings.detector.cooldown_minutes),
        )


def refusal(
    grants: list[dict[str, Any]],
    target: str,
    now: datetime,
    limits: Limits,
    *,
    automatic: bool,
) -> GuardrailRefusal | None:
    """Why one more grant may not be taken now (pure: unit-tested), or None."""
    recent = [g for g in grants if parse_iso(g["at"]) > now - WINDOW]
    if len(recent) >= limits.per_hour:
        return GuardrailRefusal(
            "hourly_limit",
            f"{len(recent)} overrides in the last hour >= RULES__MAX_OVERRIDES_PER_HOUR "
            f"({limits.per_hour})",
            429,
            hint="an admin may force it",
        )
    if not automatic:
        return None
    mine = [g for g in grants if g.get("automatic")]
    if sum(1 for g in mine if parse_iso(g["at"]) > now - WINDOW) >= limits.automatic_per_hour:
        return GuardrailRefusal(
            "hourly_limit",
            f"automatic overrides in the last hour reached DETECTOR__MAX_OVERRIDES_PER_HOUR "
            f"({limits.automatic_per_hour})",
            429,
        )
    last = [parse_iso(g["at"]) for g in mine if g.get("target") == target]
    if last and now - max(last) < limits.cooldown:
        minutes = (now - max(last)).total_seconds() / 60
        return GuardrailRefusal(
            "cooldown",
            f"last automatic override of {target} {minutes:.0f} min ago < "
            f"DETECTOR__COOLDOWN_MINUTES ({limits.cooldown.total_seconds() / 60:.0f})",
            429,
        )
    return None


class OverrideBudget:
    """Grants of the last hour (and of the cooldown), shared by every process."""

    def __init__(self, client: OpenSearch, index: str, limits: Limits, scope: str) -> None:
        self.client = client
        self.index = index
        self.limits = limits
        self.doc_id = f"{BUDGET_ID}:{scope}"  # one budget per audit index (deployment)

    def _keep(self, now: datetime) -> datetime:
        return now - max(WINDOW, self.limits.cooldown)

    def _read(self) -> tuple[list[dict[str, Any]], int | None, int | None]:
        try:
            hit = self.client.get(index=self.index, id=self.doc_id)
        except NotFoundError:
            return [], None, None
        return list(hit["_source"].get("grants") or []), hit["_seq_no"], hit["_primary_term"]

    def _write(self, grants: list[dict[str, Any]], seq_no: int | None, term: int | None) -> bool:
        body = {"kind": "override-budget", "grants": grants}
        params: dict[str, Any] = {"refresh": "true"}
        if seq_no is None:
            params["op_type"] = "create"
        else:
            params |= {"if_seq_no": seq_no, "if_primary_term": term}
        try:
            self.client.index(index=self.index, id=self.doc_id, body=body, params=params)
        except ConflictError:
            return False
        return True

    def take(
        self, now: datetime, target: str, actor: str, *, automatic: bool, force: bool = False
    ) -> str:
        """A grant id, or :class:`GuardrailRefusal` (``force`` passes the caps)."""
        ensure_state_index(self.client, self.index)
        grant = {
            "id": uuid.uuid4().hex,
            "at": now.isoformat(),
            "target": target,
            "actor": actor,
            "automatic": automatic,
        }
        for _ in range(CAS_ATTEMPTS):
            grants, seq_no, term = self._read()
            grants = [g for g in grants if parse_iso(g["at"]) > self._keep(now)]
            problem = refusal(grants, target, now, self.limits, automatic=automatic)
            if problem is not None and not force:
                raise problem
            if self._write([*grants, grant], seq_no, term):
                return str(grant["id"])
        raise WafsiemError("the override budget kept changing under us; retry", status=409)

    def release(self, grant_id: str) -> None:
        """Give a grant back (the write it was taken for was definitely not made)."""
        for _ in range(CAS_ATTEMPTS):
            grants, seq_no, term = self._read()
            kept = [g for g in grants if g.get("id") != grant_id]
            if len(kept) == len(grants) or self._write(kept, seq_no, term):
                return
