"""``wafsiem demo``: the whole story on the services it is given, step by step.

Each step is a thin call into the capability that does the work: ``wafsiem init``
(bootstrap), the generator, S3 + SQS notifications and ``POST /firehose`` (ingest),
``tier run`` (tiering), the detector and overrides (rules_admin), ``query top`` and
``tier status`` for the report. The CLI brings the stack up and serves the API; tests
call :func:`run_demo` with their own names.

Running it twice is safe: the plan (when the spike happens) is remembered, every day is
generated whole and deterministically, so a second run regenerates the same records —
each a duplicate by its ``event.id`` — days already cold are left as they are, and the
detector finds its override already in place instead of making another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from opensearchpy import OpenSearch

from demo import plan as planning
from demo.ingest import ingest_day_firehose, ingest_day_s3
from demo.models import DayIngest, DemoOptions, DemoReport
from demo.report import build_report_tail
from demo.webacls import WafAcl, ensure_webacls
from ingest.bulk import BulkIndexer
from ingest.generator.topology import Topology
from query.rule_stats import RuleKey
from query.service import QueryContext
from rules_admin.detector import Decision, Detector
from rules_admin.managed_rules import SubRuleResolver
from rules_admin.overrides import OverrideService
from tiering.ledger import Ledger
from tiering.service import Tiering, hot_indices, run_tiering
from tiering.store import ColdStore, open_store
from wafsiem.bootstrap import initialise
from wafsiem.output import ProgressReporter
from wafsiem.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

ProgressFactory = Callable[[str, float | None], AbstractContextManager[ProgressReporter]]
Note = Callable[[str], None]


@contextmanager
def quiet_progress(description: str, total: float | None) -> Iterator[ProgressReporter]:
    yield ProgressReporter(description, total, as_json=False)


@dataclass
class DemoServices:
    """The clients and settings the demo works with (built by the caller)."""

    settings: Settings
    opensearch: OpenSearch
    s3: S3Client
    sqs: SQSClient
    wafv2: Callable[[str], Any]  # region -> WAFv2 client
    firehose_url: str  # POST /firehose of a running API
    firehose_key: str
    ingest_counters: Callable[[str], dict[str, int]]  # kind -> the API's ingest counters
    progress: ProgressFactory = quiet_progress
    note: Note = lambda _message: None

    def store(self) -> ColdStore:
        return open_store(self.settings.cold_uri, self.settings, self.s3)

    def indexer(self) -> BulkIndexer:
        cfg = self.settings.ingest
        return BulkIndexer(
            self.opensearch, max_bytes=cfg.bulk_bytes, concurrency=cfg.bulk_concurrency
        )


def run_demo(
    services: DemoServices, options: DemoOptions, now: datetime | None = None
) -> DemoReport:
    started = time.monotonic()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    settings, note = services.settings, services.note
    path = planning.plan_path(settings.state_dir)
    plan, reused = planning.choose_plan(path, options, now)
    planning.save_plan(path, plan)
    days = planning.demo_days(options, now)
    report = DemoReport(
        started=now,
        window={"from": planning.day_start(days[0]), "to": now},
        options=options,
        plan=plan,
        plan_reused=reused,
    )
    if reused:
        report.notes.append(
            f"the plan of {plan.created:%Y-%m-%d %H:%M}Z was reused: the same traffic is "
            "generated again, so earlier records come back as duplicates"
        )

    note("init: index templates, state index, bucket, queues")
    initialise(settings, services.opensearch, services.s3, services.sqs)
    note("WAFv2 emulator: the generator's web ACLs")
    acls = ensure_webacls(
        services.wafv2, Topology(options.domains).active_acls, options.webacl_suffix
    )
    report.webacls = {name: acl.arn for name, acl in acls.items()}

    report.ingest = ingest_days(services, options, plan, days, now)
    report.tiering = tier(services, options, now)
    decisions = detect(services, options, plan, acls, now)
    report.detector_at = planning.detector_moment(plan)
    build_report_tail(report, services, decisions, acls, now)
    report.finished = datetime.now(UTC)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def ingest_days(
    services: DemoServices,
    options: DemoOptions,
    plan: planning.DemoPlan,
    days: list[Any],
    now: datetime,
) -> list[DayIngest]:
    """Older days through S3 + SQS (days already cold are left alone), today through
    the Firehose endpoint."""
    settings = services.settings
    prefix = settings.opensearch.index_prefix
    ledger = Ledger(services.opensearch, settings.opensearch.state_index, prefix)
    cold = {e.date for e in ledger.all() if e.state == "cold"}
    hot = hot_indices(services.opensearch, prefix)
    queue_url = services.sqs.get_queue_url(QueueName=settings.sqs.queue_name)["QueueUrl"]
    indexer = services.indexer()
    results = []
    for day in days[:-1]:
        if day in cold and day not in hot:
            services.note(f"{day}: already cold, left as it is")
            results.append(DayIngest(date=day, path="s3+sqs", action="skipped_cold"))
            continue
        services.note(f"{day}: generating into s3://{settings.s3.bucket}/AWSLogs/ + SQS")
        with services.progress(f"{day} S3+SQS", None) as bar:
            result = ingest_day_s3(
                settings,
                planning.day_options(plan, day),
                s3=services.s3,
                sqs=services.sqs,
                indexer=indexer,
                queue_url=queue_url,
                truth_path=settings.state_dir / "demo" / f"ground-truth-{day}.json",
                advance=partial(_advance, bar),
            )
        results.append(result)
    today = days[-1]
    services.note(f"{today}: posting to {services.firehose_url} (Firehose HTTP endpoint)")
    with services.progress(f"{today} Firehose", None) as bar:
        results.append(
            ingest_day_firehose(
                planning.day_options(plan, today),
                url=services.firehose_url,
                access_key=services.firehose_key,
                now=now,
                counters=lambda: services.ingest_counters("firehose"),
                advance=partial(_advance, bar),
            )
        )
    services.opensearch.indices.refresh(index=f"{prefix}-*")
    return results


def _advance(bar: ProgressReporter, records: int) -> None:
    bar.advance(records, records=records)
    if bar.as_json and bar.completed // 20_000 != (bar.completed - records) // 20_000:
        bar.report()


def tier(services: DemoServices, options: DemoOptions, now: datetime) -> list[dict[str, Any]]:
    """``tier run`` with the demo's hot window."""
    settings = services.settings
    ctx = Tiering(
        client=services.opensearch,
        store=services.store(),
        prefix=settings.opensearch.index_prefix,
        state_index=settings.opensearch.state_index,
    )
    services.note(f"tiering: days before today - {options.hot_days} day(s) to Parquet")
    with services.progress("tier run", None) as bar:
        ctx.on_rows = lambda rows: bar.advance(rows, rows=rows)
        result = run_tiering(ctx, hot_days=options.hot_days, now=now)
    failed = [d for d in result.days if d.action == "failed"]
    if failed:
        raise RuntimeError(f"tiering {failed[0].date} failed: {failed[0].error}")
    return [d.model_dump(mode="json") for d in result.days]


def allowed_rules(settings: Settings, options: DemoOptions) -> list[str]:
    """The detector's ALLOW_RULES when set, else every managed rule group of the ACLs."""
    if settings.detector.allow_rules:
        return settings.detector.allow_rules
    acls = Topology(options.domains).active_acls
    return sorted({r.name for a in acls for r in a.rules if r.type == "MANAGED_RULE_GROUP"})


def detect(
    services: DemoServices,
    options: DemoOptions,
    plan: planning.DemoPlan,
    acls: dict[str, WafAcl],
    now: datetime,
) -> list[Decision]:
    """The detector over the spike's first window, applying (actor ``detector``)."""
    settings = services.settings
    cfg = settings.detector.model_copy(
        update={"apply": True, "allow_rules": allowed_rules(settings, options)}
    )
    # the WAFv2 emulator has no DescribeManagedRuleGroup: the packaged catalogue answers
    resolver = SubRuleResolver(describe_available=False)
    overrides = OverrideService(services.wafv2, services.opensearch, settings, resolver=resolver)
    ctx = QueryContext.from_settings(settings, services.opensearch, services.store())

    def webacl_arn(key: RuleKey) -> str:
        acl = acls.get(key.webacl or "")
        return acl.arn if acl is not None else key.webacl_arn

    detector = Detector(ctx, cfg, overrides=overrides, webacl_arn=webacl_arn)
    at = planning.detector_moment(plan)
    services.note(
        f"detector: judging {at - timedelta(minutes=cfg.window_minutes):%H:%M}–{at:%H:%M}Z"
    )
    return detector.run(at, now, apply=True)
