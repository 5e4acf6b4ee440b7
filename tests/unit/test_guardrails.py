"""The override guardrails as pure logic: protected rules, TTL bounds, caps, cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules_admin.guardrails import (
    GuardrailRefusal,
    Limits,
    check_protected,
    checked_ttl,
    refusal,
)
from wafsiem.settings import DetectorSettings, RulesSettings, Settings

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LIMITS = Limits(per_hour=3, automatic_per_hour=2, cooldown=timedelta(minutes=30))


def settings(**rules: object) -> Settings:
    return Settings(
        rules=RulesSettings(**rules),  # type: ignore[arg-type]
        detector=DetectorSettings(protected_rules=["AWS-AWSManagedRulesATPRuleSet"]),
    )


def grant(minutes_ago: float, target: str = "acl#A", automatic: bool = False) -> dict[str, object]:
    return {
        "id": f"g{minutes_ago}",
        "at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "target": target,
        "automatic": automatic,
    }


def test_protected_rules_of_both_lists_are_refused_unless_an_admin_forces() -> None:
    cfg = settings(protected_rules=["GeoBlock", "CRS:SizeRestrictions_BODY"])
    for rule, sub in (
        ("GeoBlock", None),
        ("CRS", "SizeRestrictions_BODY"),
        ("AWS-AWSManagedRulesATPRuleSet", "AttributeCompromisedCredentials"),
    ):
        with pytest.raises(GuardrailRefusal) as refused:
            check_protected(cfg, rule, sub, force=False, admin=True)
        assert refused.value.status == 403 and refused.value.guardrail == "protected"
        with pytest.raises(GuardrailRefusal, match="only an admin"):
            check_protected(cfg, rule, sub, force=True, admin=False)
        assert check_protected(cfg, rule, sub, force=True, admin=True)
    assert check_protected(cfg, "CRS", "GenericLFI_BODY", force=False, admin=False) is None
    # the whole group holds the protected sub-rule: a group override is refused too
    with pytest.raises(GuardrailRefusal, match="CRS:SizeRestrictions_BODY"):
        check_protected(cfg, "CRS", None, force=False, admin=False)


def test_every_override_gets_a_ttl_within_the_maximum() -> None:
    cfg = settings(default_ttl_minutes=90, max_ttl_minutes=600)
    assert checked_ttl(cfg, None) == 90
    assert checked_ttl(cfg, 600) == 600
    for bad in (0, 601):
        with pytest.raises(GuardrailRefusal) as refused:
            checked_ttl(cfg, bad)
        assert refused.value.status == 422


def test_the_hourly_cap_counts_everyone_within_the_hour() -> None:
    grants = [grant(10), grant(20), grant(59)]
    problem = refusal(grants, "acl#B", NOW, LIMITS, automatic=False)
    assert problem is not None and problem.guardrail == "hourly_limit" and problem.status == 429
    older = [grant(10), grant(20), grant(61)]  # one fell out of the hour
    assert refusal(older, "acl#B", NOW, LIMITS, automatic=False) is None


def test_automatic_overrides_have_their_own_cap_and_a_cooldown_per_target() -> None:
    people = [grant(5), grant(6)]
    assert refusal(people, "acl#A", NOW, LIMITS, automatic=True) is None
    two_automatic = [grant(5, "acl#X", True), grant(50, "acl#Y", True)]
    capped = refusal(two_automatic, "acl#A", NOW, LIMITS, automatic=True)
    assert capped is not None and capped.guardrail == "hourly_limit"
    recent = [grant(20, "acl#A", True)]
    cooling = refusal(recent, "acl#A", NOW, LIMITS, automatic=True)
    assert cooling is not None and cooling.guardrail == "cooldown"
    assert refusal(recent, "acl#B", NOW, LIMITS, automatic=True) is None
    assert refusal([grant(31, "acl#A", True)], "acl#A", NOW, LIMITS, automatic=True) is None
    assert refusal(recent, "acl#A", NOW, LIMITS, automatic=False) is None  # a person
