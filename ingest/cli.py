"""`wafsiem ingest files|s3|sqs`: thin commands over the ingest services."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ingest.bulk import BulkIndexer
from ingest.checkpoint import CheckpointStore
from ingest.models import IngestReport, StreamReport
from ingest.parser import ParserOptions, expand_paths
from ingest.replay import ReplayFilter, ReplayReport, replay_deadletters
from ingest.s3_source import S3Location, S3PollReport, ingest_s3_object, ingest_s3_prefix
from ingest.service import IngestTarget, ingest_file
from ingest.sqs_source import MessageOutcome, SqsReport, consume
from wafsiem.clients import opensearch_client, s3_client, sqs_client
from wafsiem.hash_key import warn_if_default_hash_key
from wafsiem.logs import setup_logging
from wafsiem.metrics import Metrics
from wafsiem.output import ProgressReporter, emit, json_option
from wafsiem.settings import Settings, get_settings


@dataclass
class _Pipeline:
    indexer: BulkIndexer
    options: ParserOptions
    target: IngestTarget


def _pipeline(settings: Settings, client: Any) -> _Pipeline:
    warn_if_default_hash_key(settings, "wafsiem ingest")
    return _Pipeline(
        BulkIndexer(
            client,
            max_bytes=settings.ingest.bulk_bytes,
            concurrency=settings.ingest.bulk_concurrency,
        ),
        ParserOptions.from_settings(settings),
        IngestTarget.from_settings(settings),
    )


def _render_report(report: IngestReport, out: Console, extra: dict[str, int] | None = None) -> None:
    problems = [s for s in report.streams if s.error or s.truncated or s.dead_lettered]
    if problems:
        table = Table("stream", "records", "indexed", "dup", "dead", "problem")
        for s in problems[:50]:
            problem = s.error or ("truncated" if s.truncated else "")
            table.add_row(
                s.origin, str(s.records_in), str(s.indexed), str(s.duplicates),
                str(s.dead_lettered), problem,
            )  # fmt: skip
        out.print(table)
    lines = {
        "streams": len(report.streams),
        "records read": report.records_in,
        "indexed": report.indexed,
        "duplicates": report.duplicates,
        "dead-lettered": report.dead_lettered,
        "unreadable streams": report.failed_streams,
        "truncated streams": report.truncated_streams,
        **(extra or {}),
    }
    for name, value in lines.items():
        out.print(f"{name:>20}: {value}", markup=False)
    rate = report.records_in / report.seconds if report.seconds else 0.0
    out.print(f"{'seconds':>20}: {report.seconds:.1f} ({rate:,.0f} records/s)", markup=False)
    if not report.balanced:  # never expected: say so loudly
        out.print("ACCOUNTING MISMATCH: read != indexed + duplicates + dead-lettered")


def _exit_code(report: IngestReport) -> int:
    return 1 if report.failed_streams else 0


@click.group("ingest")
def ingest_group() -> None:
    """Ingest WAF logs into the hot tier (OpenSearch)."""


@ingest_group.command("files")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def files_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Files and directories (recursive): gzip or plain, NDJSON or concatenated JSON."""
    settings = get_settings()
    pipeline = _pipeline(settings, opensearch_client(settings))
    files = expand_paths(paths)
    total_bytes = sum(p.stat().st_size for p in files)
    report = IngestReport()
    started = time.monotonic()
    with ProgressReporter("ingest files", total_bytes, as_json) as progress:
        for path in files:
            size = path.stat().st_size
            stream = ingest_file(
                path, indexer=pipeline.indexer, options=pipeline.options, target=pipeline.target
            )
            report.add(stream)
            progress.advance(size, records=stream.records_in, indexed=stream.indexed)
            if as_json:
                progress.report()
    report.seconds = time.monotonic() - started
    emit(report.model_dump(), as_json, lambda out: _render_report(report, out))
    raise SystemExit(_exit_code(report))


@ingest_group.command("s3")
@click.argument("uri")
@click.option("--follow", is_flag=True, help="keep polling for new objects")
@click.option("--interval", default=30.0, show_default=True, help="seconds between polls")
@click.option("--reset", is_flag=True, help="forget the checkpoint and start from the top")
@click.option("--retry-failed", is_flag=True, help="give failed keys given up a new series")
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write wafsiem_ingest_* metrics here after every pass (node_exporter textfile)",
)
@json_option
def s3_command(
    uri: str, follow: bool, interval: float, reset: bool, retry_failed: bool,
    metrics_file: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Backfill or poll s3://bucket/prefix, resuming from its checkpoint: every pass lists
    the lookback window again (late files), retries failed keys after their backoff and
    reports those still failing."""
    settings = get_settings()
    if follow:
        setup_logging(settings.log)
    client = opensearch_client(settings)
    pipeline = _pipeline(settings, client)
    store = CheckpointStore(client, settings.opensearch.state_index, settings.ingest.s3)
    location = S3Location.parse(uri)
    if reset:
        store.reset(location.uri)
    s3 = s3_client(settings)
    metrics = Metrics()
    total = S3PollReport()
    while True:
        with ProgressReporter(f"ingest {location.uri}", None, as_json) as progress:

            def listed(objects: int, size: int, bar: ProgressReporter = progress) -> None:
                bar.set_total(objects)

            def done(stream: StreamReport, bar: ProgressReporter = progress) -> None:
                bar.advance(1, records=stream.records_in, indexed=stream.indexed)
                metrics.record_stream(
                    "s3", read=stream.records_in, indexed=stream.indexed,
                    duplicates=stream.duplicates, dead_lettered=stream.dead_lettered,
                )  # fmt: skip
                if as_json:
                    bar.report()

            report = ingest_s3_prefix(
                s3,
                location,
                store=store,
                indexer=pipeline.indexer,
                options=pipeline.options,
                target=pipeline.target,
                retry_given_up=retry_failed,
                on_listed=listed,
                on_stream=done,
            )
            retry_failed = False
        _add_pass(total, report)
        metrics.record_s3_poll(
            location.uri, retrying=report.failed_pending, given_up=report.failed_given_up,
            retried=report.retried, recovered=report.recovered,
        )  # fmt: skip
        if metrics_file is not None:
            metrics.write_textfile(metrics_file, prefix="wafsiem_ingest_")
        if report.failed_keys and follow:
            _log_failed(report)
        if not follow:
            break
        time.sleep(interval)
    emit(total.model_dump(mode="json"), as_json, lambda out: _render_s3(total, out))
    raise SystemExit(1 if total.failed_streams or total.failed_given_up else 0)


def _add_pass(total: S3PollReport, report: S3PollReport) -> None:
    """Sum a pass into the run; the failed-key state is the last pass's."""
    for stream in report.streams:
        total.add(stream)
    total.seconds += report.seconds
    for name in ("listed", "retried", "recovered", "failed_unrecorded", "checkpoint_conflicts"):
        setattr(total, name, getattr(total, name) + getattr(report, name))
    total.failed_pending, total.failed_given_up = report.failed_pending, report.failed_given_up
    total.failed_keys = report.failed_keys


def _log_failed(report: S3PollReport) -> None:
    log = logging.getLogger("wafsiem.ingest.s3")
    for failed in report.failed_keys:
        log.warning(
            "s3 key %s failed %d time(s)%s: %s", failed.key, failed.attempts,
            " (given up)" if failed.gave_up else f", next try {failed.next_try.isoformat()}",
            failed.reason,
        )  # fmt: skip


def _render_s3(report: S3PollReport, out: Console) -> None:
    if report.failed_keys:
        table = Table("failed key", "attempts", "next try", "reason")
        for failed in report.failed_keys[:20]:
            next_try = "given up" if failed.gave_up else failed.next_try.isoformat()
            table.add_row(failed.key, str(failed.attempts), next_try, failed.reason[:80])
        out.print(table)
    extra = {
        "objects listed": report.listed,
        "failed keys retried": report.retried,
        "recovered": report.recovered,
        "failed, retrying": report.failed_pending,
        "failed, given up": report.failed_given_up,
        "failed, unrecorded": report.failed_unrecorded,
    }
    _render_report(report, out, extra)
    if report.failed_given_up:
        out.print("keys given up stay reported: fix the cause, then run with --retry-failed")


@ingest_group.command("sqs")
@click.argument("queue")
@click.option("--follow", is_flag=True, help="keep receiving; otherwise stop when empty")
@click.option("--wait", "wait_seconds", default=5, show_default=True, help="long-poll seconds")
@click.option("--visibility", default=120, show_default=True, help="visibility timeout (s)")
@json_option
def sqs_command(
    queue: str, follow: bool, wait_seconds: int, visibility: int, as_json: bool
) -> None:
    """S3 event notifications (direct or via SNS) from QUEUE (a URL or a queue name)."""
    settings = get_settings()
    if follow:
        setup_logging(settings.log)
    client = opensearch_client(settings)
    pipeline = _pipeline(settings, client)
    s3 = s3_client(settings)
    sqs = sqs_client(settings)
    queue_url = queue if "://" in queue else sqs.get_queue_url(QueueName=queue)["QueueUrl"]

    def ingest_object(bucket: str, key: str) -> StreamReport:
        return ingest_s3_object(
            s3, bucket, key,
            indexer=pipeline.indexer, options=pipeline.options, target=pipeline.target,
        )  # fmt: skip

    with ProgressReporter("ingest sqs", None, as_json) as progress:

        def done(outcome: MessageOutcome) -> None:
            records = sum(s.records_in for s in outcome.streams)
            progress.advance(1, records=records, deleted=int(outcome.deleted))
            if as_json:
                progress.report()

        report: SqsReport = consume(
            sqs,
            queue_url,
            ingest_object,
            follow=follow,
            wait_seconds=wait_seconds,
            visibility_timeout=visibility,
            on_message=done,
        )
    extra = {
        "messages": report.messages,
        "deleted": report.deleted,
        "left for redrive": report.left_for_redrive,
        "test events": report.test_events,
    }
    emit(report.model_dump(), as_json, lambda out: _render_report(report, out, extra))
    raise SystemExit(1 if report.left_for_redrive else 0)


def _iso(value: str | None, word: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=word) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _render_replay(report: ReplayReport, out: Console) -> None:
    lines: dict[str, int] = {
        "dead letters read": report.read,
        "indexed": report.indexed,
        "duplicates": report.duplicates,
        "still dead": report.still_dead,
        "  not replayable": report.not_replayable,
        **{f"  failed: {k}": v for k, v in sorted(report.failed_by_reason.items())},
        "documents indexed": report.documents_indexed,
        "deleted": report.deleted,
    }
    for name, value in lines.items():
        out.print(f"{name:>24}: {value}", markup=False)
    out.print(f"{'seconds':>24}: {report.seconds:.1f}", markup=False)
    if not report.balanced:  # never expected: say so loudly
        out.print("ACCOUNTING MISMATCH: read != indexed + duplicates + still dead")


@ingest_group.command("replay-deadletters")
@click.option("--reason", default=None, help="only dead letters with this reason")
@click.option("--from", "start", default=None, help="dead-lettered at or after (ISO 8601)")
@click.option("--to", "end", default=None, help="dead-lettered before (ISO 8601)")
@json_option
def replay_command(reason: str | None, start: str | None, end: str | None, as_json: bool) -> None:
    """Parse dead letters again (after a parser fix) and index them; a dead letter is
    deleted only once its records are indexed or found as duplicates, else it stays
    with its new reason. Redacted or truncated dead letters stay as not_replayable."""
    settings = get_settings()
    client = opensearch_client(settings)
    pipeline = _pipeline(settings, client)
    selection = ReplayFilter(reason=reason, start=_iso(start, "--from"), end=_iso(end, "--to"))
    with ProgressReporter("replay dead letters", None, as_json) as progress:

        def page(report: ReplayReport, total: int) -> None:
            progress.set_total(total)
            progress.advance(report.read - progress.completed)
            progress.counters = {
                "read": report.read,
                "indexed": report.indexed,
                "duplicates": report.duplicates,
                "still_dead": report.still_dead,
            }
            if as_json:
                progress.report()

        report = replay_deadletters(
            client,
            indexer=pipeline.indexer,
            options=pipeline.options,
            target=pipeline.target,
            selection=selection,
            on_page=page,
        )
    data = {**report.model_dump(), "balanced": report.balanced}
    emit(data, as_json, lambda out: _render_replay(report, out))
    raise SystemExit(0 if report.balanced else 1)


def register(root: click.Group) -> None:
    root.add_command(ingest_group)
