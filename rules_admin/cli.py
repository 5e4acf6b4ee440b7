"""``wafsiem serve`` (the HTTP API under uvicorn), ``wafsiem rules show|override|revert``,
``wafsiem keys new`` and ``wafsiem detect run|backtest``."""

from __future__ import annotations

import getpass
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from wafsiem.auth import key_digest, new_key
from wafsiem.clients import opensearch_client, wafv2_client
from wafsiem.output import console, emit, json_option, print_json
from wafsiem.settings import get_settings

if TYPE_CHECKING:
    from rules_admin.detector import Decision, Detector
    from rules_admin.overrides import OverrideService

log = logging.getLogger(__name__)


def register(root: click.Group) -> None:
    root.add_command(serve)


@click.command("serve")
@click.option("--host", default=None, help="address to listen on (default: settings api.host)")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="default: settings api.port"
)
@click.option(
    "--json", "as_json", is_flag=True, help="print the listening address as JSON on start"
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default=None,
    help="default: settings log.level (WAFSIEM_LOG__LEVEL, info)",
)
def serve(host: str | None, port: int | None, as_json: bool, log_level: str | None) -> None:
    """Serve POST /firehose, GET /healthz and GET /metrics until interrupted.

    Logs go to stderr: JSON lines when stderr is not a terminal, or with
    WAFSIEM_LOG__FORMAT=json; text on a terminal (WAFSIEM_LOG__FORMAT=text forces it).
    """
    import uvicorn

    from rules_admin.app import create_app
    from wafsiem.logs import setup_logging

    settings = get_settings()
    log_level = log_level or settings.log.level
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    warning = None
    if not settings.firehose.access_key or not settings.firehose.access_key.get_secret_value():
        warning = (
            "no Firehose access key set (WAFSIEM_FIREHOSE__ACCESS_KEY): "
            "/firehose refuses every delivery"
        )
    if as_json:
        print_json(
            {"serving": f"http://{host}:{port}", "host": host, "port": port, "warning": warning}
        )
    else:
        out = console(stderr=True)
        out.print(f"wafsiem serving on http://{host}:{port}", markup=False, soft_wrap=True)
        if warning:
            out.print(f"warning: {warning}", markup=False, style="yellow")
    setup_logging(settings.log, level=log_level)
    from wafsiem.hash_key import warn_if_default_hash_key

    warn_if_default_hash_key(settings, "wafsiem serve")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # uvicorn's loggers propagate to the handler set up above
        access_log=not as_json,
        # past this many connections and tasks uvicorn answers 503 itself; /firehose
        # also bounds its own deliveries (503 + Retry-After, firehose.max_concurrent_requests)
        limit_concurrency=settings.api.limit_concurrency,
    )


# -- rules: show, override, revert ---------------------------------------------------------


def register_rules(root: click.Group) -> None:
    root.add_command(rules_group)


def register_keys(root: click.Group) -> None:
    root.add_command(keys_group)


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def _service() -> OverrideService:
    from rules_admin.overrides import OverrideService

    settings = get_settings()
    return OverrideService(
        lambda region: wafv2_client(settings, region), opensearch_client(settings), settings
    )


def _finish(record: dict[str, Any], as_json: bool, failed: str | None = None) -> None:
    from rules_admin.models import outcome_message

    if as_json:
        print_json({"error": failed, "record": record} if failed else record)
    else:
        out = console()
        out.print(outcome_message(record), markup=False, soft_wrap=True)
        if record.get("diff"):
            out.print(record["diff"], markup=False, soft_wrap=True)
        if failed:
            out.print(f"error: {failed}", markup=False, soft_wrap=True, style="red")
    if failed:
        sys.exit(1)


def _attempt(call: Callable[[], dict[str, Any]], as_json: bool) -> None:
    """Run an override or revert and print its audit record (a refusal exits 1)."""
    from rules_admin.overrides import OverrideError

    try:
        record = call()
    except OverrideError as exc:
        if exc.record is None:
            raise
        _finish(exc.record, as_json, exc.message)
        return
    _finish(record, as_json)


@click.group("rules")
def rules_group() -> None:
    """Show a web ACL's rules; switch a rule to COUNT and revert it (audited)."""


@rules_group.command("show")
@click.argument("webacl_arn")
@json_option
def rules_show(webacl_arn: str, as_json: bool) -> None:
    """The rules of WEBACL_ARN, their actions, and the overrides wafsiem holds."""
    data = _service().show(webacl_arn)

    def render(out: Console) -> None:
        out.print(
            f"{data['name']} ({data['scope']}, {data['region']})", markup=False, soft_wrap=True
        )
        for rule in data["rules"]:
            if rule["shape"] == "custom":
                line = f"  {rule['priority']:>4}  {rule['name']}  action {rule['action']}"
            else:
                line = (
                    f"  {rule['priority']:>4}  {rule['name']}  group {rule['group']}  "
                    f"override_action {rule['override_action']}"
                )
                for sub, action in rule["rule_action_overrides"].items():
                    line += f"\n          {sub} -> {action}"
                for sub in rule["excluded_rules"]:
                    line += f"\n          {sub} -> COUNT (ExcludedRules)"
            out.print(line, markup=False, soft_wrap=True)
        for o in data["overrides"]:
            target = o["rule"] + (f":{o['sub_rule']}" if o.get("sub_rule") else "")
            until = f" until {o['expires_at']}" if o.get("expires_at") else ""
            doubt = " (unverified: reconcile settles it)" if o.get("result") != "applied" else ""
            out.print(
                f"override {o['id']}: {target} COUNT{until} by {o['actor']}{doubt}",
                markup=False,
                soft_wrap=True,
            )

    emit(data, as_json, render)


@rules_group.command("override")
@click.argument("webacl_arn")
@click.argument("rule")
@click.option("--sub-rule", default=None, help="a rule inside the rule group RULE references")
@click.option("--reason", required=True, help="why (kept in the audit record)")
@click.option("--ttl-minutes", type=click.IntRange(1), default=None, help="revert after this")
@click.option("--dry-run", is_flag=True, help="show the diff, write nothing")
@click.option(
    "--force",
    is_flag=True,
    help="pass the protected-rule list and the hourly cap (the CLI holds the AWS "
    "credentials, so it acts as admin); audited as forced",
)
@json_option
def rules_override(
    webacl_arn: str,
    rule: str,
    sub_rule: str | None,
    reason: str,
    ttl_minutes: int | None,
    dry_run: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Switch RULE (or --sub-rule inside it) of WEBACL_ARN to COUNT.

    Without --ttl-minutes the override expires after rules.default_ttl_minutes."""
    _attempt(
        lambda: _service().override(
            webacl_arn,
            rule,
            sub_rule,
            reason=reason,
            actor=cli_actor(),
            ttl_minutes=ttl_minutes,
            dry_run=dry_run,
            force=force,
            admin=True,
        ),
        as_json,
    )


@rules_group.command("revert")
@click.argument("override_id")
@click.option("--reason", required=True, help="why (kept in the audit record)")
@json_option
def rules_revert(override_id: str, reason: str, as_json: bool) -> None:
    """Restore exactly the action OVERRIDE_ID replaced."""
    _attempt(lambda: _service().revert(override_id, actor=cli_actor(), reason=reason), as_json)


def _print_maintenance(outcomes: list[dict[str, Any]], as_json: bool, empty: str) -> None:
    def render(out: Console) -> None:
        if not outcomes:
            out.print(empty, markup=False)
        for o in outcomes:
            target = (o.get("rule") or "?") + (f":{o['sub_rule']}" if o.get("sub_rule") else "")
            what = o.get("settled") or o.get("result")
            detail = o.get("error") or o.get("detail") or ""
            out.print(
                f"{o.get('override_id')}  {target}  {what}  {detail}".rstrip(),
                markup=False,
                soft_wrap=True,
            )

    emit({"outcomes": outcomes}, as_json, render)
    if any((o.get("settled") or o.get("result")) == "error" for o in outcomes):
        sys.exit(1)


@rules_group.command("reconcile")
@json_option
def rules_reconcile(as_json: bool) -> None:
    """Settle overrides whose effect is unknown (unverified, interrupted): re-read each
    web ACL and record applied, not applied or changed by someone else. Safe to run
    from a scheduled job at any time; exits 1 when a web ACL could not be read."""
    _print_maintenance(_service().reconcile(datetime.now(UTC)), as_json, "nothing to reconcile")


@rules_group.command("expire")
@json_option
def rules_expire(as_json: bool) -> None:
    """Reconcile, then revert every override past its TTL (for a scheduled job when
    `wafsiem serve` is not running; serve and the detector do the same)."""
    done = _service().maintain(datetime.now(UTC))
    _print_maintenance(done["reconciled"] + done["expired"], as_json, "nothing due")


# -- keys ----------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """API keys for the HTTP API (stored hashed in WAFSIEM_API__KEYS)."""


@keys_group.command("new")
@click.option("--name", required=True, help="who or what uses the key (the audit actor)")
@click.option(
    "--scope",
    "scope",
    type=click.Choice(["read", "write", "admin"]),
    default="read",
    show_default=True,
    help="write implies read; admin implies both",
)
@json_option
def keys_new(name: str, scope: str, as_json: bool) -> None:
    """Print a new random key and the entry to add to WAFSIEM_API__KEYS."""
    key = new_key()
    entry = {"name": name, "sha256": key_digest(key), "scopes": [scope]}
    if as_json:
        print_json({"key": key, "entry": entry})
        return
    click.echo(f"key (shown once, give it to {name}): {key}")
    click.echo("add this entry to the JSON list in WAFSIEM_API__KEYS:")
    click.echo(json.dumps(entry))


# -- detect: run, backtest -----------------------------------------------------------------


def register_detect(root: click.Group) -> None:
    root.add_command(detect_group)


def _moment(value: str | None, word: str) -> datetime:
    from query.filters import parse_time

    now = datetime.now(UTC)
    return parse_time(value, now=now, word=word) if value else now


def _detector(with_overrides: bool) -> Detector:
    from query.service import QueryContext
    from rules_admin.detector import Detector
    from tiering.store import open_store

    settings = get_settings()
    opensearch = opensearch_client(settings)
    ctx = QueryContext.from_settings(settings, opensearch, open_store(settings.cold_uri, settings))
    overrides = _service() if with_overrides else None
    return Detector(ctx, settings.detector, overrides=overrides)


def _print_decision(decision: Decision, as_json: bool) -> None:
    data = decision.as_json()
    if as_json:
        click.echo(json.dumps(data, separators=(",", ":")))
        return
    target = f"{data['webacl']} {decision.key.label()}"
    result = f" [{data['result']}]" if data.get("result") else ""
    console().print(
        f"{data['at']} {data['action']:<8} {target}{result}: {'; '.join(decision.reasons)}",
        markup=False,
        soft_wrap=True,
    )


@click.group("detect")
def detect_group() -> None:
    """Find false-positive block spikes; switch allowed rules to COUNT (see docs/detector.md)."""


@detect_group.command("run")
@click.option(
    "--apply", "apply", is_flag=True, help="write overrides (also: WAFSIEM_DETECTOR__APPLY)"
)
@click.option("--at", "at", default=None, help="judge as if it were this moment (ISO 8601)")
@json_option
def detect_run(apply: bool, at: str | None, as_json: bool) -> None:
    """Judge the last window once; dry run unless --apply or the APPLY setting."""
    moment = _moment(at, "at")
    detector = _detector(with_overrides=True)
    decisions = detector.run(moment, datetime.now(UTC), apply=apply or detector.cfg.apply)
    for decision in decisions:
        _print_decision(decision, as_json)
    if not decisions and not as_json:
        console().print(f"{moment.isoformat()}: no rule's blocks spike", markup=False)


@detect_group.command("backtest")
@click.option("--from", "from_", required=True, help="first moment judged (ISO 8601)")
@click.option("--to", "to", required=True, help="last moment judged (ISO 8601)")
@click.option("--step", default="1m", show_default=True, help="e.g. 1m, 5m, 1h")
@click.option("--json/--text", "as_json", default=True, show_default=True, help="JSON lines")
def detect_backtest(from_: str, to: str, step: str, as_json: bool) -> None:
    """Walk a past range without writing; print every decision (JSON lines: at, webacl,
    rule, sub_rule, action, evidence)."""
    from rules_admin.triage import parse_duration

    start, end = _moment(from_, "from"), _moment(to, "to")
    if end < start:
        raise click.BadParameter("--to must not be before --from")
    for decision in _detector(with_overrides=False).backtest(
        start, end, parse_duration(step, word="step")
    ):
        _print_decision(decision, as_json)
