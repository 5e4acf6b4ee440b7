"""The detector's pure decisions: features from counts, the verdict, the safety gate."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rules_admin.detector import SimulatedHistory
from rules_admin.detector_logic import (
    Features,
    features,
    gate,
    has_payload,
    is_browser,
    is_injection_rule,
    is_scanner_path,
    is_spike,
    judge,
    matches,
)
from wafsiem.settings import DetectorSettings

CFG = DetectorSettings(allow_rules=["*"])
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
CRS = "AWS-AWSManagedRulesCommonRuleSet"


def customers(**changes: object) -> Features:
    """fp-size-body as the suite shows it a minute after onset."""
    base = Features(
        blocks=243,
        baseline_blocks=0,
        window_minutes=5,
        baseline_minutes=60,
        client_ips=176,
        countries=22,
        top_ip_share=0.0165,
        blocks_per_ip=1.38,
        browser_share=1.0,
        top_ja4_share=0.35,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_classifiers() -> None:
    assert is_browser(CHROME)
    assert not is_browser(CHROME.replace("Chrome/", "HeadlessChrome/"))
    assert not is_browser(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    )
    assert not is_browser("python-requests/2.31.0")
    assert not is_browser(None)
    assert has_payload("q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert has_payload("id=1' OR 1=1--")
    assert has_payload("/static/../../etc/passwd")
    assert not has_payload("page=3&sort=price")
    assert is_scanner_path("/wp-login.php") and is_scanner_path("/.env")
    assert not is_scanner_path("/admin/cms/api/pages/12/revisions")
    assert not is_scanner_path("/checkout/payment")
    assert is_injection_rule(CRS, "CrossSiteScripting_BODY")
    assert is_injection_rule("AWS-AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS")
    assert not is_injection_rule(CRS, "SizeRestrictions_BODY")
    assert not is_injection_rule("RateLimitLogin", None)


def test_features_from_counts() -> None:
    f = features(
        blocks=10,
        baseline_blocks=12,
        window_minutes=5,
        baseline_minutes=60,
        ips=Counter({"10.0.0.1": 4, "10.0.0.2": 3, "10.0.0.3": 3}),
        countries=Counter({"DE": 7, "FR": 3}),
        paths=Counter({"/checkout": 9, "/wp-login.php": 1}),
        queries=Counter({None: 8, "q=<script>": 2}),
        user_agents=Counter({CHROME: 8, "curl/8": 2}),
        ja4s=Counter({"a": 6, "b": 4}),
        other_rule_ips={"10.0.0.3", "192.0.2.1"},
        known_ips={"10.0.0.1", "10.0.0.2"},
        rule=CRS,
        sub_rule="SizeRestrictions_BODY",
    )
    assert (f.client_ips, f.countries, f.top_ip_share, f.blocks_per_ip) == (3, 2, 0.4, 3.33)
    assert (f.browser_share, f.payload_share, f.scanner_path_share) == (0.8, 0.2, 0.1)
    assert (f.other_rule_ip_share, f.known_client_share, f.top_ja4_share) == (0.3333, 0.6667, 0.6)
    assert f.expected_blocks == 1.0 and f.spike_ratio == 10.0
    assert f.top_paths == ["/checkout", "/wp-login.php"]
    assert f.evidence()["spike_ratio"] == 10.0


def test_spike_needs_volume_and_ratio() -> None:
    assert is_spike(customers(), CFG)
    assert not is_spike(customers(blocks=9), CFG)  # too few
    # 60 blocks an hour before -> 5 expected; 20 is only x4
    assert not is_spike(customers(blocks=20, baseline_blocks=60), CFG)
    assert is_spike(customers(blocks=25, baseline_blocks=60), CFG)


def test_broad_customers_are_a_false_positive() -> None:
    j = judge(customers(), CFG)
    assert j.verdict == "false_positive"
    assert any("broad" in r for r in j.reasons)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"blocks_per_ip": 36.0}, "blocks_per_ip"),  # credential stuffing, scanners
        ({"top_ip_share": 0.5}, "top_ip_share"),
        ({"browser_share": 0.3}, "browser_share"),  # bots
        ({"payload_share": 0.4}, "payload_share"),
        ({"scanner_path_share": 0.3}, "scanner_path_share"),
        ({"other_rule_ip_share": 0.6}, "other_rule_ip_share"),  # scanners trip several rules
        ({"top_ja4_share": 1.0}, "top_ja4_share"),  # one tool's TLS stack
        ({"client_ips": 4, "countries": 3}, "client_ips"),
    ],
)
def test_attack_signs_keep_blocking(change: dict[str, object], reason: str) -> None:
    j = judge(customers(**change), CFG)
    assert j.verdict == "attack"
    assert any(r.startswith(reason) for r in j.reasons)


def test_distributed_injection_attack_is_not_a_false_positive() -> None:
    """Thousands of fresh IPs in many countries, browser-like, low rate per IP, on an
    injection signature: breadth alone never makes it a false positive."""
    attack = customers(client_ips=3000, countries=40, injection_rule=True, known_client_share=0.02)
    j = judge(attack, CFG)
    assert j.verdict == "attack"
    assert "injection signature" in j.reasons[0]


def test_known_staff_on_an_injection_rule_are_a_false_positive() -> None:
    """fp-xss-body: a few dozen editors in three countries, most also allowed lately."""
    staff = customers(
        blocks=36,
        client_ips=18,
        countries=3,
        top_ip_share=0.14,
        blocks_per_ip=2.0,
        top_ja4_share=0.42,
        injection_rule=True,
        known_client_share=0.72,
    )
    j = judge(staff, CFG)
    assert j.verdict == "false_positive"
    assert any("known clients" in r for r in j.reasons)
    assert judge(replace(staff, known_client_share=0.15), CFG).verdict == "attack"


def test_narrow_and_unknown_is_not_enough() -> None:
    j = judge(customers(client_ips=20, countries=2, known_client_share=0.1), CFG)
    assert j.verdict == "attack" and j.reasons[0].startswith("narrow")


def test_matches() -> None:
    assert matches(["*"], "R", None) == "*"
    assert matches([CRS], CRS, "SizeRestrictions_BODY") == CRS
    assert matches(["SizeRestrictions_BODY"], CRS, "SizeRestrictions_BODY")
    assert matches([f"{CRS}:SizeRestrictions_BODY"], CRS, "SizeRestrictions_BODY")
    assert not matches([f"{CRS}:SizeRestrictions_BODY"], CRS, "CrossSiteScripting_BODY")
    assert not matches([], CRS, None)


def test_gate_order() -> None:
    cfg = DetectorSettings(
        allow_rules=[CRS], protected_rules=[f"{CRS}:SQLi_BODY"], max_overrides_per_hour=2
    )
    free = {"active": False, "minutes_since_last": None, "overrides_last_hour": 0}
    assert gate(CRS, "SizeRestrictions_BODY", cfg, **free).action == "override"  # type: ignore[arg-type]
    assert gate(CRS, "SQLi_BODY", cfg, **free).blocked_by == "protected"  # type: ignore[arg-type]
    assert gate("RateLimitLogin", None, cfg, **free).blocked_by == "not_allowed"  # type: ignore[arg-type]
    assert gate(CRS, "X", DetectorSettings(), **free).blocked_by == "not_allowed"  # type: ignore[arg-type]
    busy = {**free, "active": True}
    assert gate(CRS, "X", cfg, **busy).blocked_by == "already_overridden"  # type: ignore[arg-type]
    recent = {**free, "minutes_since_last": 10.0}
    assert gate(CRS, "X", cfg, **recent).blocked_by == "cooldown"  # type: ignore[arg-type]
    full = {**free, "overrides_last_hour": 2}
    assert gate(CRS, "X", cfg, **full).blocked_by == "hourly_limit"  # type: ignore[arg-type]


def test_simulated_history() -> None:
    history = SimulatedHistory(timedelta(minutes=30))
    t0 = datetime(2025, 11, 20, 11, 0, tzinfo=UTC)
    target = ("arn", CRS, "SizeRestrictions_BODY")
    history.now = t0
    history.record(target, t0)
    history.now = t0 + timedelta(minutes=10)
    assert history.active(target)
    assert history.minutes_since_last(target, t0 + timedelta(minutes=10)) == 10.0
    assert history.count_last_hour(t0 + timedelta(minutes=59)) == 1
    assert history.count_last_hour(t0 + timedelta(minutes=61)) == 0
    history.now = t0 + timedelta(minutes=31)
    assert not history.active(target)
