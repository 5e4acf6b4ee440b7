"""No rule left in COUNT with no way back, and the guardrails on every path.

Against the WAFv2 emulator (moto server) and the real OpenSearch. Wrappers around the
real client inject what AWS does and moto never does: a read-back that is still the old
ACL, an UpdateWebACL that applies and then times out, a process that dies mid-write.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from click.testing import CliRunner
from fastapi.testclient import TestClient

from rules_admin.app import create_app
from rules_admin.audit import now_utc
from rules_admin.guardrails import GuardrailRefusal, Limits, OverrideBudget
from rules_admin.managed_rules import SubRuleResolver
from rules_admin.overrides import OverrideError, OverrideService
from rules_admin.webacl_model import UNMODELLED
from wafsiem.auth import key_digest
from wafsiem.cli import build_root
from wafsiem.settings import ApiKey, ApiSettings, Settings, reset_settings

from .test_overrides import ACTOR, acl, make_service, read, resolver, rule_of, rules_settings

__all__ = ["acl", "resolver", "rules_settings"]  # fixtures shared with test_overrides


class Wrapped:
    """A WAFv2 client whose calls go to the real one unless a test says otherwise."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class StaleReads(Wrapped):
    """After UpdateWebACL, the next ``stale`` GetWebACL answers are the ACL from before."""

    def __init__(self, client: Any, stale: int) -> None:
        super().__init__(client)
        self.stale = stale
        self.before: Any = None

    def get_web_acl(self, **kwargs: Any) -> Any:
        if self.before is not None and self.stale > 0:
            self.stale -= 1
            return self.before
        return self._client.get_web_acl(**kwargs)

    def update_web_acl(self, **kwargs: Any) -> Any:
        self.before = self._client.get_web_acl(
            Name=kwargs["Name"], Scope=kwargs["Scope"], Id=kwargs["Id"]
        )
        return self._client.update_web_acl(**kwargs)


class TimesOut(Wrapped):
    """UpdateWebACL gives no answer: after AWS applied it (``applies``) or before."""

    def __init__(self, client: Any, applies: bool, times: int = 1) -> None:
        super().__init__(client)
        self.applies = applies
        self.times = times

    def update_web_acl(self, **kwargs: Any) -> Any:
        if self.times <= 0:
            return self._client.update_web_acl(**kwargs)
        self.times -= 1
        if self.applies:
            self._client.update_web_acl(**kwargs)
        raise ReadTimeoutError(endpoint_url="http://waf.test/")


class LostInTheFog(StaleReads):
    """UpdateWebACL applies and times out, and the read-backs are still the old ACL."""

    def update_web_acl(self, **kwargs: Any) -> Any:
        super().update_web_acl(**kwargs)
        raise ReadTimeoutError(endpoint_url="http://waf.test/")


class ProcessDies(Wrapped):
    """UpdateWebACL is applied, then the process dies before recording the answer."""

    def update_web_acl(self, **kwargs: Any) -> Any:
        self._client.update_web_acl(**kwargs)
        raise SystemExit("killed")


def quick(settings: Settings, **rules: Any) -> Settings:
    """No waiting between read-backs; other rule settings as given."""
    update = {"verify_attempts": 3, "verify_interval_seconds": 0.0, **rules}
    return settings.model_copy(update={"rules": settings.rules.model_copy(update=update)})


def service_with(
    settings: Settings, opensearch: Any, resolver: SubRuleResolver, wrap: Any
) -> OverrideService:
    return make_service(settings, opensearch, resolver, wrap)[0]


@pytest.mark.parametrize("wrapper", [StaleReads, LostInTheFog])
def test_a_stale_read_back_is_unverified_in_force_and_settled_by_reconcile(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
    wrapper: type[StaleReads],
) -> None:
    cfg = quick(rules_settings)
    service = service_with(cfg, opensearch, resolver, lambda c: wrapper(c, stale=3))
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR, ttl_minutes=30)
    assert record["result"] == "unverified" and record["state"] == "active"
    assert record["before"] == original and record["after"]["Action"] == {"Count": {}}
    assert record["expires_at"] > record["@timestamp"]
    assert rule_of(read(acl), "GeoBlock")["Action"] == {"Count": {}}  # it is in COUNT
    assert [o["id"] for o in service.list_overrides(state="active")] == [record["id"]]

    settled = service.reconcile(now_utc())
    assert [(o["override_id"], o["settled"]) for o in settled] == [(record["id"], "applied")]
    (stored,) = service.list_overrides()
    assert stored["result"] == "applied" and stored["state"] == "active"
    assert service.reconcile(now_utc()) == []  # nothing left to settle

    done = service.revert(record["id"], actor=ACTOR, reason="fixed")
    assert done["result"] == "reverted"
    assert rule_of(read(acl), "GeoBlock") == original


def test_an_unverified_override_expires_by_its_ttl(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    service = service_with(cfg, opensearch, resolver, lambda c: StaleReads(c, stale=3))
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR, ttl_minutes=5)
    assert record["result"] == "unverified"
    plain = make_service(cfg, opensearch, resolver)[0]  # e.g. `wafsiem rules expire`
    done = plain.revert_expired(now_utc() + timedelta(minutes=6))
    assert done == [{"override_id": record["id"], "result": "reverted"}]
    assert rule_of(read(acl), "GeoBlock") == original
    (stored,) = plain.list_overrides(state="expired")
    assert stored["id"] == record["id"]


def test_a_timeout_after_apply_is_verified_and_revertible(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    service = service_with(cfg, opensearch, resolver, lambda c: TimesOut(c, applies=True))
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    assert record["result"] == "applied"  # the read-back confirmed what the timeout hid
    assert "no answer" in record["status"]
    assert rule_of(read(acl), "GeoBlock")["Action"] == {"Count": {}}
    # the rule goes back to its previous action, with no reconcile in between
    done = service.revert(record["id"], actor=ACTOR, reason="back")
    assert done["result"] == "reverted"
    assert rule_of(read(acl), "GeoBlock") == original
    (stored,) = service.list_overrides()
    assert stored["state"] == "reverted"


def test_a_timeout_before_apply_settles_as_not_applied_after_the_settle_time(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings, settle_after_seconds=60)
    service = service_with(cfg, opensearch, resolver, lambda c: TimesOut(c, applies=False))
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    assert record["result"] == "unverified"
    (waiting,) = service.reconcile(now_utc())
    assert waiting["settled"] == "waiting"  # GetWebACL may lag: not yet
    (settled,) = service.reconcile(now_utc() + timedelta(seconds=61))
    assert settled["settled"] == "not_applied"
    assert service.list_overrides() == []
    assert rule_of(read(acl), "GeoBlock") == original


def test_a_timed_out_revert_is_settled_by_reconcile(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    service = make_service(cfg, opensearch, resolver)[0]
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    flaky = service_with(cfg, opensearch, resolver, lambda c: LostInTheFog(c, stale=3))
    revert = flaky.revert(record["id"], actor=ACTOR, reason="back")
    assert revert["result"] == "unverified"
    (pending,) = service.list_overrides()
    assert pending["state"] == "active" and pending["revert_pending"] == revert["id"]
    (settled,) = service.reconcile(now_utc())
    assert settled["settled"] == "reverted"
    (stored,) = service.list_overrides()
    assert stored["state"] == "reverted"
    assert rule_of(read(acl), "GeoBlock") == original


def test_a_process_that_dies_mid_write_leaves_an_intent_reconcile_settles(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    dying = service_with(cfg, opensearch, resolver, ProcessDies)
    original = rule_of(read(acl), "GeoBlock")
    with pytest.raises(SystemExit):
        dying.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR, ttl_minutes=10)
    (intent,) = dying.audit_records()
    assert intent["result"] == "pending" and intent["stage"] == "writing"
    assert intent["after"]["Action"] == {"Count": {}} and intent["expires_at"]

    restarted = make_service(cfg, opensearch, resolver)[0]  # `wafsiem serve` starting
    (settled,) = restarted.reconcile(now_utc())
    assert settled["settled"] == "applied"
    (stored,) = restarted.list_overrides(state="active")
    assert stored["id"] == intent["id"]
    done = restarted.revert_expired(now_utc() + timedelta(minutes=11))
    assert done == [{"override_id": intent["id"], "result": "reverted"}]
    assert rule_of(read(acl), "GeoBlock") == original


def test_a_field_the_model_does_not_know_refuses_the_write_and_is_audited(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    class NewerAws(Wrapped):
        def get_web_acl(self, **kwargs: Any) -> Any:
            return {**self._client.get_web_acl(**kwargs), UNMODELLED: ["WebACL.NewSetting"]}

    service = service_with(rules_settings, opensearch, resolver, NewerAws)
    token = read(acl)["LockToken"]
    with pytest.raises(OverrideError) as refused:
        service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    assert refused.value.status == 422
    assert refused.value.record is not None
    assert refused.value.record["result"] == "refused"
    assert "WebACL.NewSetting" in refused.value.record["error"]
    assert read(acl)["LockToken"] == token


def test_every_override_has_a_ttl_by_default(
    rules_settings: Settings, opensearch: Any, resolver: SubRuleResolver, acl: dict[str, Any]
) -> None:
    cfg = quick(rules_settings, default_ttl_minutes=45)
    service = make_service(cfg, opensearch, resolver)[0]
    started = now_utc()
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    assert record["ttl_minutes"] == 45
    expires = record["expires_at"].replace("Z", "+00:00")
    assert started + timedelta(minutes=44) < type(started).fromisoformat(expires)
    with pytest.raises(OverrideError) as too_long:
        service.override(acl["arn"], "Customer", reason="FP", actor=ACTOR, ttl_minutes=10**6)
    assert too_long.value.status == 422


def test_two_processes_cannot_both_pass_a_cap_of_one(
    rules_settings: Settings, opensearch: Any, resolver: SubRuleResolver, acl: dict[str, Any]
) -> None:
    cfg = quick(rules_settings, max_overrides_per_hour=1)
    services = [make_service(cfg, opensearch, resolver)[0] for _ in range(2)]
    gate = threading.Barrier(2)
    results: dict[str, Any] = {}

    def attempt(service: OverrideService, rule: str) -> None:
        gate.wait()
        try:
            results[rule] = service.override(acl["arn"], rule, reason="FP", actor=ACTOR)
        except OverrideError as exc:
            results[rule] = exc

    threads = [
        threading.Thread(target=attempt, args=(s, r))
        for s, r in zip(services, ("GeoBlock", "Customer"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    applied = [r for r in results.values() if isinstance(r, dict)]
    refused = [r for r in results.values() if isinstance(r, OverrideError)]
    assert len(applied) == 1 and len(refused) == 1
    assert refused[0].status == 429 and refused[0].record is not None
    assert refused[0].record["guardrail"] == "hourly_limit"
    (listed,) = services[0].list_overrides()
    assert listed["id"] == applied[0]["id"]


def test_the_budget_grants_exactly_its_cap_under_contention(
    rules_settings: Settings, opensearch: Any, unique: str
) -> None:
    index = rules_settings.opensearch.state_index
    limits = Limits(per_hour=5, automatic_per_hour=5, cooldown=timedelta(0))
    budgets = [OverrideBudget(opensearch, index, limits, scope=unique) for _ in range(10)]
    gate = threading.Barrier(len(budgets))
    granted: list[str] = []
    refused: list[GuardrailRefusal] = []
    now = now_utc()

    def take(budget: OverrideBudget, n: int) -> None:
        gate.wait()
        try:
            granted.append(budget.take(now, f"acl#rule{n}", "detector", automatic=True))
        except GuardrailRefusal as exc:
            refused.append(exc)

    threads = [threading.Thread(target=take, args=(b, n)) for n, b in enumerate(budgets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 5 and len(refused) == 5
    budgets[0].release(granted[0])
    assert budgets[1].take(now, "acl#again", "detector", automatic=True)
    opensearch.delete(index=index, id=budgets[0].doc_id, ignore=[404])


def test_protected_rules_are_refused_on_the_api_unless_an_admin_forces(
    rules_settings: Settings, opensearch: Any, acl: dict[str, Any], unique: str
) -> None:
    keys = {"w": f"write-{unique}", "a": f"admin-{unique}"}
    cfg = rules_settings.model_copy(
        update={
            "api": ApiSettings(
                keys=[
                    ApiKey(name="oncall", sha256=key_digest(keys["w"]), scopes=["write"]),
                    ApiKey(name="lead", sha256=key_digest(keys["a"]), scopes=["admin"]),
                ]
            ),
            "rules": rules_settings.rules.model_copy(
                update={"protected_rules": ["GeoBlock"], "ttl_check_seconds": 0}
            ),
        }
    )
    body = {"webacl": acl["arn"], "rule": "GeoBlock", "reason": "FP on checkout"}
    with TestClient(create_app(cfg)) as client:
        for key, payload in (("w", body), ("w", {**body, "force": True}), ("a", body)):
            answer = client.post(
                "/api/v1/overrides", json=payload, headers={"Authorization": f"Bearer {keys[key]}"}
            )
            assert answer.status_code == 403, answer.text
            assert answer.json()["record"]["guardrail"] == "protected"
        assert rule_of(read(acl), "GeoBlock")["Action"]["Block"]
        forced = client.post(
            "/api/v1/overrides",
            json={**body, "force": True},
            headers={"Authorization": f"Bearer {keys['a']}"},
        )
        assert forced.status_code == 200, forced.text
        record = forced.json()["record"]
        assert record["forced"] is True and record["protected_by"] == "GeoBlock"
    assert rule_of(read(acl), "GeoBlock")["Action"] == {"Count": {}}


def test_rules_reconcile_and_expire_run_without_serve(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduled-job commands: reconcile settles, expire reverts what is due."""
    cfg = quick(rules_settings)
    service = service_with(cfg, opensearch, resolver, lambda c: StaleReads(c, stale=3))
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR, ttl_minutes=1)
    assert record["result"] == "unverified"
    monkeypatch.setenv("WAFSIEM_OPENSEARCH__AUDIT_INDEX", cfg.opensearch.audit_index)
    monkeypatch.setenv("WAFSIEM_RULES__VERIFY_INTERVAL_SECONDS", "0")
    reset_settings()
    try:
        runner = CliRunner()
        reconciled = runner.invoke(build_root(), ["rules", "reconcile", "--json"])
        assert reconciled.exit_code == 0, reconciled.output
        (outcome,) = orjson.loads(reconciled.stdout)["outcomes"]
        assert outcome == {
            "override_id": record["id"],
            "rule": "GeoBlock",
            "sub_rule": None,
            "settled": "applied",
        }
        early = runner.invoke(build_root(), ["rules", "expire", "--json"])
        assert early.exit_code == 0 and orjson.loads(early.stdout) == {"outcomes": []}
        doc = opensearch.get(index=cfg.opensearch.audit_index, id=record["id"])["_source"]
        doc["expires_at"] = "2000-01-01T00:00:00.000Z"
        opensearch.index(
            index=cfg.opensearch.audit_index, id=record["id"], body=doc, refresh="true"
        )
        expired = runner.invoke(build_root(), ["rules", "expire", "--json"])
        assert expired.exit_code == 0, expired.output
        assert orjson.loads(expired.stdout)["outcomes"] == [
            {"override_id": record["id"], "result": "reverted"}
        ]
    finally:
        monkeypatch.undo()
        reset_settings()
    assert rule_of(read(acl), "GeoBlock") == original


class LockedAfterApplyThenThrottled(Wrapped):
    """UpdateWebACL applies, botocore's retry of it meets the new lock token, and the
    re-read that follows is throttled: the write happened, nothing confirmed it."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.throttle_next_read = False

    def update_web_acl(self, **kwargs: Any) -> Any:
        self._client.update_web_acl(**kwargs)
        self.throttle_next_read = True
        raise ClientError(
            {
                "Error": {"Code": "WAFOptimisticLockException", "Message": "stale token"},
                "ResponseMetadata": {"RetryAttempts": 1},
            },
            "UpdateWebACL",
        )

    def get_web_acl(self, **kwargs: Any) -> Any:
        if self.throttle_next_read:
            self.throttle_next_read = False
            raise ClientError(
                {"Error": {"Code": "WAFLimitsExceededException", "Message": "slow down"}},
                "GetWebACL",
            )
        return self._client.get_web_acl(**kwargs)


def test_a_failure_after_the_write_was_sent_is_never_recorded_failed(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    service = service_with(cfg, opensearch, resolver, LockedAfterApplyThenThrottled)
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    assert record["result"] in ("applied", "unverified") and record["state"] == "active"
    assert "may have applied" in record["status"]
    assert rule_of(read(acl), "GeoBlock")["Action"] == {"Count": {}}
    done = make_service(cfg, opensearch, resolver)[0].revert(record["id"], actor=ACTOR, reason="x")
    assert done["result"] == "reverted"
    assert rule_of(read(acl), "GeoBlock") == original


def test_reconcile_leaves_a_reverted_override_alone(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    service = service_with(cfg, opensearch, resolver, lambda c: StaleReads(c, stale=3))
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR)
    assert record["result"] == "unverified"
    plain = make_service(cfg, opensearch, resolver)[0]
    plain.revert(record["id"], actor=ACTOR, reason="back")
    # someone sets the rule to COUNT again; the old override must not come back to life
    second = plain.override(acl["arn"], "GeoBlock", reason="again", actor=ACTOR)
    assert second["result"] == "applied"
    assert plain.reconcile(now_utc() + timedelta(minutes=30)) == []
    states = {o["id"]: o["state"] for o in plain.list_overrides()}
    assert states == {record["id"]: "reverted", second["id"]: "active"}


def test_an_uncarriable_acl_during_the_ttl_revert_keeps_the_override_active(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    class NewerAws(Wrapped):
        def get_web_acl(self, **kwargs: Any) -> Any:
            return {**self._client.get_web_acl(**kwargs), UNMODELLED: ["WebACL.NewSetting"]}

    cfg = quick(rules_settings)
    original = rule_of(read(acl), "GeoBlock")
    record = make_service(cfg, opensearch, resolver)[0].override(
        acl["arn"], "GeoBlock", reason="FP", actor=ACTOR, ttl_minutes=5
    )
    later = now_utc() + timedelta(minutes=6)
    refused = service_with(cfg, opensearch, resolver, NewerAws).revert_expired(later)
    assert [o["result"] for o in refused] == ["error"]
    upgraded = make_service(cfg, opensearch, resolver)[0]  # botocore upgraded
    assert upgraded.revert_expired(later) == [{"override_id": record["id"], "result": "reverted"}]
    assert rule_of(read(acl), "GeoBlock") == original


def test_the_ttl_takes_over_a_revert_whose_process_died(
    rules_settings: Settings,
    opensearch: Any,
    resolver: SubRuleResolver,
    acl: dict[str, Any],
) -> None:
    cfg = quick(rules_settings)
    service = make_service(cfg, opensearch, resolver)[0]
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="FP", actor=ACTOR, ttl_minutes=5)
    index = cfg.opensearch.audit_index
    doc = opensearch.get(index=index, id=record["id"])["_source"]
    doc.update(state="reverting", updated="2000-01-01T00:00:00.000Z")  # claimed, then died
    opensearch.index(index=index, id=record["id"], body=doc, refresh="true")
    done = service.revert_expired(now_utc() + timedelta(minutes=6))
    assert done == [{"override_id": record["id"], "result": "reverted"}]
    assert rule_of(read(acl), "GeoBlock") == original
