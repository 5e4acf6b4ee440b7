"""The demo report: tiers from ``tier status``, top blocked rules from ``query top``, the
detector's overrides with their audit evidence, and what the WAFv2 API says now."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from demo.models import (
    DemoReport,
    LeftAlone,
    OverrideFigure,
    RuleFigure,
    Status,
    TierDay,
    TierFigures,
)
from demo.webacls import WafAcl
from query.filters import Filter
from query.service import QueryContext, top
from rules_admin.detector import Decision
from rules_admin.overrides import OverrideService
from tiering.status import tier_status
from wafsiem.output import human_bytes

if TYPE_CHECKING:
    from demo.service import DemoServices

TOP_RULES = 8
LEFT_ALONE_DETAILED = 2  # rules whose reasons are printed


def build_report_tail(
    report: DemoReport,
    services: DemoServices,
    decisions: list[Decision],
    acls: dict[str, WafAcl],
    now: datetime,
) -> None:
    settings = services.settings
    store = services.store()
    days = tier_status(
        services.opensearch,
        store,
        prefix=settings.opensearch.index_prefix,
        state_index=settings.opensearch.state_index,
    )
    hot, cold = TierFigures(), TierFigures()
    for d in days:
        if d.hot_index:
            hot.days += 1
            hot.records += d.rows_hot or 0
            hot.bytes += d.bytes_hot or 0
        if d.state == "cold":
            cold.days += 1
            cold.records += d.rows or 0
            cold.bytes += d.bytes_cold or 0
        report.tier_days.append(
            TierDay(
                date=d.date,
                state=d.state,
                records=d.rows,
                bytes_hot=d.bytes_hot if d.hot_index else None,
                bytes_cold=d.bytes_cold,
            )
        )
    report.tiers = {"hot": hot, "cold": cold}

    ctx = QueryContext.from_settings(settings, services.opensearch, store)
    result = top(ctx, Filter(start=report.window["from"], end=now, action=("BLOCK",)), by="rule")
    report.top_blocked_rules = [
        RuleFigure(rule=b.key, blocks=b.count, client_ips=b.client_ips)
        for b in result.buckets[:TOP_RULES]
    ]

    service = OverrideService(services.wafv2, services.opensearch, settings)
    shown: dict[str, dict[str, Any]] = {}

    def waf_action(arn: str, rule: str | None, sub_rule: str | None) -> str | None:
        if arn not in shown:
            shown[arn] = service.show(arn)
        return effective_action(shown[arn], rule, sub_rule)

    for decision in decisions:
        key = decision.key
        arn = acls[key.webacl].arn if key.webacl in acls else key.webacl_arn
        if decision.verdict != "false_positive":
            report.left_alone.append(
                LeftAlone(
                    webacl=key.webacl or arn,
                    rule=key.rule or "",
                    sub_rule=key.sub_rule,
                    verdict=decision.verdict,
                    blocks=decision.features.blocks,
                    reasons=decision.reasons,
                    waf_action=waf_action(arn, key.rule, key.sub_rule),
                )
            )
            continue
        figure = override_figure(service, decision, arn)
        figure.waf_action = waf_action(arn, key.rule, key.sub_rule)
        report.overrides.append(figure)


def override_figure(service: OverrideService, d: Decision, arn: str) -> OverrideFigure:
    """The override the detector made now, or the active one it found in place."""
    base: dict[str, Any] = {"webacl": d.key.webacl or arn, "webacl_arn": arn}
    base |= {"rule": d.key.rule or "", "sub_rule": d.key.sub_rule}
    record: dict[str, Any] | None = None
    status: Status
    if d.result == "applied" and d.override_id:
        status = "made"
        got = service.audit.get(d.override_id)
        record = got[0] if got else None
    elif d.blocked_by == "already_overridden":
        status = "already_in_place"
        found = service.audit.search(
            filters={
                "kind": "override",
                "result": "applied",
                "webacl": arn,
                "rule": d.key.rule or "",
                "state": ["active", "reverting"],
            }
        )
        record = next((r for r in found if (r.get("sub_rule") or None) == d.key.sub_rule), None)
    elif d.result == "dry_run":
        status = "dry_run"
    elif d.blocked_by:  # a safety limit (cooldown, hourly limit, not allowed, protected)
        status = "held_back"
    else:
        status = "failed"
    if record is None:
        return OverrideFigure(
            **base,
            status=status,
            evidence=d.evidence(),
            error=d.error or (f"{d.blocked_by}: {d.reasons[-1]}" if d.blocked_by else None),
        )
    return OverrideFigure(
        **base,
        status=status,
        override_id=record.get("id"),
        at=record.get("@timestamp"),
        expires_at=record.get("expires_at"),
        reason=record.get("reason"),
        evidence=record.get("evidence") or d.evidence(),
    )


def effective_action(shown: dict[str, Any], rule: str | None, sub_rule: str | None) -> str | None:
    """What the web ACL does with the target now: COUNT once overridden, else its own."""
    for item in shown["rules"]:
        if item["name"] != rule:
            continue
        if item["shape"] == "custom":
            return item["action"]
        if sub_rule is None:
            return "COUNT" if item["override_action"] == "COUNT" else "as the group says"
        if sub_rule in item["excluded_rules"]:
            return "COUNT"
        return item["rule_action_overrides"].get(sub_rule) or "BLOCK (the group's action)"
    return None


# -- for people ------------------------------------------------------------------------


def render(report: DemoReport, out: Console) -> None:
    w = report.window
    out.print(
        f"\nwafsiem demo: {w['from']:%Y-%m-%d} .. {w['to']:%Y-%m-%d %H:%M}Z, "
        f"{report.options.domains} domains, {report.options.rps:g} req/s baseline, "
        f"done in {report.seconds:.0f}s",
        markup=False,
        soft_wrap=True,
    )
    for line in report.notes:
        out.print(f"note: {line}", markup=False, soft_wrap=True)

    table = Table("day", "path", "objects", "records", "new", "duplicates", "dead", "s")
    table.columns[0].no_wrap = True
    for d in report.ingest:
        if d.action == "skipped_cold":
            table.add_row(str(d.date), "already cold", *["-"] * 6)
            continue
        table.add_row(
            str(d.date), d.path, f"{d.objects:,}", f"{d.records_read:,}", f"{d.indexed:,}",
            f"{d.duplicates:,}", f"{d.dead_lettered:,}", f"{d.seconds:.0f}",
        )  # fmt: skip
    out.print(table)

    tiers = Table("tier", "days", "records", "bytes")
    for name, fig in report.tiers.items():
        where = "OpenSearch" if name == "hot" else "Parquet"
        tiers.add_row(
            f"{name} ({where})", str(fig.days), f"{fig.records:,}", human_bytes(fig.bytes)
        )
    out.print(tiers)

    rules = Table("top blocked rules", "blocks", "client IPs")
    rules.columns[0].overflow = "fold"
    for r in report.top_blocked_rules:
        rules.add_row(r.rule, f"{r.blocks:,}", f"{r.client_ips:,}")
    out.print(rules)

    at = report.detector_at
    out.print(
        f"detector at {at:%Y-%m-%d %H:%M}Z:" if at else "detector:", markup=False, soft_wrap=True
    )
    for o in report.overrides:
        target = f"{o.webacl} {o.rule}:{o.sub_rule}" if o.sub_rule else f"{o.webacl} {o.rule}"
        word = {
            "made": "switched to COUNT",
            "already_in_place": "already COUNT (override from an earlier run, left in place)",
            "dry_run": "would switch to COUNT",
            "held_back": "not switched: a safety limit held it back",
            "failed": "could not switch",
        }[o.status]
        out.print(
            f"  override  {target}: {word}; WAFv2 now: {o.waf_action}", markup=False, soft_wrap=True
        )
        if o.override_id:
            out.print(
                f"            id {o.override_id}, expires {o.expires_at}",
                markup=False,
                soft_wrap=True,
            )
        ev = o.evidence
        if ev:
            out.print(
                f"            evidence: {ev.get('blocks')} blocks vs "
                f"{ev.get('expected_blocks')} expected, {ev.get('client_ips')} client IPs in "
                f"{ev.get('countries')} countries, browser share {ev.get('browser_share')}",
                markup=False,
                soft_wrap=True,
            )
            for reason in ev.get("reasons", [])[:4]:
                out.print(f"            - {reason}", markup=False, soft_wrap=True)
        if o.error:
            out.print(f"            {o.error}", markup=False, soft_wrap=True)
    for n, k in enumerate(report.left_alone):
        target = f"{k.webacl} {k.rule}:{k.sub_rule}" if k.sub_rule else f"{k.webacl} {k.rule}"
        out.print(
            f"  left alone {target} ({k.verdict}, {k.blocks} blocks); WAFv2 now: {k.waf_action}",
            markup=False,
            soft_wrap=True,
        )
        if n < LEFT_ALONE_DETAILED:
            out.print(f"            - {'; '.join(k.reasons[:3])}", markup=False, soft_wrap=True)
    if not report.overrides and not report.left_alone:
        out.print("  no rule's blocks spiked in that window", markup=False, soft_wrap=True)
