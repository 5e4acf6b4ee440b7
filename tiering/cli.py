"""``wafsiem tier run|status|restore``: thin commands over the tiering services."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ingest.bulk import BulkIndexer
from tiering.models import DayResult, DayStatus, RestoreReport, RunReport
from tiering.service import Tiering, run_tiering
from tiering.status import restore_day, tier_status
from tiering.store import open_store
from wafsiem.clients import opensearch_client
from wafsiem.logs import setup_logging
from wafsiem.metrics import Metrics
from wafsiem.output import ProgressReporter, emit, human_bytes, json_option
from wafsiem.settings import Settings, get_settings


def _context(
    settings: Settings, page_size: int | None = None, lease_ttl: float | None = None
) -> Tiering:
    ctx = Tiering(
        client=opensearch_client(settings),
        store=open_store(settings.cold_uri, settings),
        prefix=settings.opensearch.index_prefix,
        state_index=settings.opensearch.state_index,
    )
    if page_size:
        ctx.page_size = page_size
    if lease_ttl:
        ctx.lease_ttl = lease_ttl
    return ctx


def _render_run(report: RunReport, out: Console) -> None:
    table = Table("date", "action", "rows", "added", "files", "hot", "cold", "seconds", "error")
    for d in report.days:
        table.add_row(
            d.date.isoformat(),
            d.action,
            f"{d.rows:,}",
            f"{d.rows_added:,}",
            str(d.files),
            human_bytes(d.bytes_hot),
            human_bytes(d.bytes_cold),
            f"{d.seconds:.1f}",
            d.error or "",
        )
    out.print(table)
    dry = " (dry run)" if report.dry_run else ""
    out.print(
        f"{len(report.days)} day(s) before {report.cutoff} "
        f"(hot_days={report.hot_days}){dry}, {report.failed} failed, {report.seconds:.1f}s",
        markup=False,
    )


@click.group("tier")
def tier_group() -> None:
    """Roll old hot indices into Parquet (the cold tier); status; restore."""


@tier_group.command("run")
@click.option(
    "--hot-days",
    type=click.IntRange(min=0),
    default=None,
    help="days kept hot (default: tiering.hot_days)",
)
@click.option("--dry-run", is_flag=True, help="list what would be tiered; change nothing")
@click.option(
    "--page-size",
    type=click.IntRange(min=1, max=10_000),
    default=None,
    help="documents per export page",
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(min=0.1),
    default=None,
    help="seconds a day's lease outlives a crashed holder (default 900)",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write wafsiem_tiering_* counters here for node_exporter's textfile collector",
)
@json_option
def run_command(
    hot_days: int | None,
    dry_run: bool,
    page_size: int | None,
    lease_ttl: float | None,
    metrics_file: Path | None,
    as_json: bool,
) -> None:
    """Export every daily index older than the hot window, verify, then delete it."""
    settings = get_settings()
    setup_logging(settings.log)
    metrics = Metrics()
    ctx = _context(settings, page_size, lease_ttl)
    days = settings.tiering.hot_days if hot_days is None else hot_days
    with ProgressReporter("tier run", None, as_json) as progress:
        ctx.on_rows = lambda rows: progress.advance(rows)

        def day_done(result: DayResult) -> None:
            metrics.record_tiering_day(result.action, result.rows_added)
            if as_json:
                progress.counters[result.action] = progress.counters.get(result.action, 0) + 1
                progress.report()

        report = run_tiering(ctx, hot_days=days, dry_run=dry_run, on_day=day_done)
    if metrics_file is not None:
        metrics.tiering_last_run.set_to_current_time()
        metrics.write_textfile(metrics_file, prefix="wafsiem_tiering_")
    emit(report.model_dump(mode="json"), as_json, lambda out: _render_run(report, out))
    raise SystemExit(1 if report.failed else 0)


def _render_status(days: list[DayStatus], out: Console) -> None:
    table = Table("date", "state", "rows", "hot", "cold", "ratio", "files", "note")
    for d in days:
        note = d.error or ""
        if d.hot_index and d.state == "cold":
            note = note or (
                f"restored until {d.restored_until:%Y-%m-%d %H:%M}Z"
                if d.restored_until
                else "hot index too (merged on next run)"
            )
        table.add_row(
            d.date.isoformat(),
            d.state,
            f"{d.rows:,}" if d.rows is not None else "-",
            human_bytes(d.bytes_hot),
            human_bytes(d.bytes_cold),
            f"{d.ratio:.3f}" if d.ratio is not None else "-",
            str(d.files) if d.files is not None else "-",
            note,
        )
    out.print(table)


@tier_group.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """Each day with its state (hot, tiering, cold), rows, bytes in each tier, ratio."""
    settings = get_settings()
    ctx = _context(settings)
    days = tier_status(ctx.client, ctx.store, prefix=ctx.prefix, state_index=ctx.state_index)
    data = {"cold_uri": ctx.store.uri, "days": [d.model_dump(mode="json") for d in days]}
    emit(data, as_json, lambda out: _render_status(days, out))


def _render_restore(report: RestoreReport, out: Console) -> None:
    out.print(
        f"{report.date}: {report.rows:,} rows -> {report.index} "
        f"({report.indexed:,} indexed, {report.duplicates:,} already there, "
        f"{report.rejected} rejected) in {report.seconds:.1f}s; kept hot until "
        f"{report.restored_until:%Y-%m-%d %H:%M}Z",
        markup=False,
    )


@tier_group.command("restore")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option(
    "--keep-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="days `tier run` leaves the restored index alone",
)
@json_option
def restore_command(day: object, keep_days: int, as_json: bool) -> None:
    """Load the cold day DAY (YYYY-MM-DD) back into its hot index (idempotent)."""
    settings = get_settings()
    ctx = _context(settings)
    when: date = day.date()  # type: ignore[attr-defined]
    indexer = BulkIndexer(
        ctx.client,
        max_bytes=settings.ingest.bulk_bytes,
        concurrency=settings.ingest.bulk_concurrency,
    )
    report = restore_day(
        ctx.client,
        ctx.store,
        when,
        prefix=ctx.prefix,
        state_index=ctx.state_index,
        indexer=indexer,
        keep_days=keep_days,
    )
    emit(report.model_dump(mode="json"), as_json, lambda out: _render_restore(report, out))
    raise SystemExit(1 if report.rejected else 0)


def register(root: click.Group) -> None:
    root.add_command(tier_group)
