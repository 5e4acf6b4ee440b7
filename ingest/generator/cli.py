"""``wafsiem generate``: realistic, labelled AWS WAFv2 logs with ground truth."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console

from ingest.generator.models import GenerateOptions, GenerateSummary, ScenarioSpec, parse_time
from ingest.generator.service import Generator, now_utc, scenario_names
from ingest.generator.writers import FirehoseHttpSender, LocalSink, S3Sink, Sink, split_s3_uri
from wafsiem.output import emit, json_option, progress

SCENARIO_HELP = (
    "add a scenario: NAME[@TIME][,intensity=X][,minutes=M]; TIME is ISO 8601 or +30m after "
    "--start (default: a quarter into the window); repeatable. Names: baseline (always on), "
)


def _sink(out: str) -> Sink:
    if out.startswith("s3://"):
        from wafsiem.clients import s3_client
        from wafsiem.settings import get_settings

        bucket, prefix = split_s3_uri(out)
        return S3Sink(s3_client(get_settings()), bucket, prefix)
    return LocalSink(Path(out))


@click.command("generate")
@click.option("--out", "out", default=None, help="output directory or s3://bucket/prefix")
@click.option(
    "--start",
    "start",
    default=None,
    help="window start, ISO 8601 (default: the previous full hour, UTC)",
)
@click.option("--hours", type=float, default=1.0, show_default=True, help="window length")
@click.option(
    "--rps",
    type=float,
    default=100.0,
    show_default=True,
    help="baseline requests per second (daily average; diurnal curve applied)",
)
@click.option("--domains", type=int, default=279, show_default=True, help="number of domains")
@click.option("--seed", type=int, default=1, show_default=True, help="same seed, same bytes")
@click.option(
    "--layout",
    type=click.Choice(["waf-s3", "firehose"]),
    default="waf-s3",
    show_default=True,
    help="WAF direct-to-S3 keys, or Firehose-to-S3 keys",
)
@click.option(
    "--no-newlines",
    is_flag=True,
    help="concatenated JSON objects without newlines (as WAF via Firehose writes them)",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="SPEC",
    help=SCENARIO_HELP + ", ".join(scenario_names()),
)
@click.option(
    "--compress-level", type=click.IntRange(0, 9), default=3, show_default=True, help="gzip level"
)
@click.option(
    "--firehose-url",
    default=None,
    help="POST to a Kinesis Data Firehose HTTP endpoint instead of (or besides) --out",
)
@click.option(
    "--firehose-access-key",
    default=None,
    envvar="WAFSIEM_FIREHOSE__ACCESS_KEY",
    help="X-Amz-Firehose-Access-Key to send (default: $WAFSIEM_FIREHOSE__ACCESS_KEY)",
)
@json_option
def generate_command(
    out: str | None,
    start: str | None,
    hours: float,
    rps: float,
    domains: int,
    seed: int,
    layout: str,
    no_newlines: bool,
    scenarios: tuple[str, ...],
    compress_level: int,
    firehose_url: str | None,
    firehose_access_key: str | None,
    as_json: bool,
) -> None:
    """Generate realistic AWS WAFv2 logs (raw WAF records) with labelled scenarios.

    Writes gzip NDJSON files per web ACL and 5-minute window, and ground-truth.json next to
    them (not inside AWSLogs/). Example:

      wafsiem generate --out ./logs --start 2024-05-01T10:00Z --hours 2 --rps 200
      --scenario fp-size-body@+30m --scenario sqli-scanner,intensity=2
    """
    if out is None and firehose_url is None:
        raise click.UsageError("give --out DIR|s3://bucket/prefix and/or --firehose-url URL")
    try:
        if start:
            base = parse_time(start)
        else:
            base = now_utc().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        specs = [ScenarioSpec.parse(text, base) for text in scenarios]
        options = GenerateOptions(
            start=base,
            hours=hours,
            rps=rps,
            domains=domains,
            seed=seed,
            layout=layout,
            newlines=not no_newlines,
            scenarios=specs,
            compress_level=compress_level,
        )
        generator = Generator(options)
        firehose = FirehoseHttpSender(firehose_url, firehose_access_key) if firehose_url else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    sink = _sink(out) if out else None
    buckets = generator.buckets()
    with progress("generating", len(buckets), as_json) as bar:
        done = {"records": 0, "files": 0, "bytes": 0}

        def tick(records: int, files: int, written: int) -> None:
            bar.advance(
                1,
                records=records - done["records"],
                files=files - done["files"],
                bytes=written - done["bytes"],
            )
            done.update(records=records, files=files, bytes=written)
            if as_json and bar.completed % 12 == 0:
                bar.report()

        summary = generator.run(sink, firehose, tick)
    emit(
        summary.model_dump(mode="json", exclude={"truth"}),
        as_json,
        lambda console: _render(console, summary),
    )


def _render(out: Console, summary: GenerateSummary) -> None:
    out.print(
        f"{summary.records:,} records, {summary.files} files, {summary.bytes:,} bytes "
        f"({summary.bytes_uncompressed:,} uncompressed) in {summary.seconds:.1f}s "
        f"({summary.records_per_second:,.0f} records/s)",
        markup=False,
    )
    if summary.out:
        out.print(f"output: {summary.out}", markup=False)
    if summary.firehose_url:
        out.print(f"firehose: {summary.requests} requests to {summary.firehose_url}", markup=False)
    for truth in summary.truth:
        where = f" {truth.webacl_name} {truth.rule}" + (
            f":{truth.sub_rule}" if truth.sub_rule else ""
        )
        out.print(
            f"  {truth.id:<22} {truth.kind:<15} {truth.records:>10,}"
            f"{where if truth.kind != 'baseline' else ''}",
            markup=False,
        )
    if summary.ground_truth:
        out.print(f"ground truth: {summary.ground_truth}", markup=False)


def register(root: click.Group) -> None:
    root.add_command(generate_command)
