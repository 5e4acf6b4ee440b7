"""``wafsiem parse PATH... [--rejects FILE] [--out FILE] [--json]``: thin CLI over the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.console import Console

from ingest.parser.models import ParsedDocument, ParseStats
from ingest.parser.options import ParserOptions
from ingest.parser.service import expand_paths, parse_file
from wafsiem.output import emit, json_option
from wafsiem.settings import get_settings


@click.command("parse")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write rejects as NDJSON (reason, detail, source, offset, raw_base64)",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write documents as NDJSON to this file instead of stdout",
)
@json_option
def parse_command(
    paths: tuple[Path, ...], rejects_path: Path | None, out_path: Path | None, as_json: bool
) -> None:
    """Parse WAF log files (plain or gzip; NDJSON or concatenated JSON) into schema
    documents. Directories are read recursively.

    Without --json: documents go to stdout as NDJSON (or to --out) and a summary goes to
    stderr. With --json: stdout carries only the summary JSON (records_in, parsed,
    rejected, truncated_files, per file); documents are written only if --out is given.
    """
    options = ParserOptions.from_settings(get_settings())
    files = expand_paths(paths)
    total = ParseStats(origin="total")
    per_file: list[ParseStats] = []
    docs_out: IO[bytes] | None = None
    rejects_out: IO[bytes] | None = None
    try:
        if out_path is not None:
            docs_out = out_path.open("wb")
        elif not as_json:
            docs_out = sys.stdout.buffer
        if rejects_path is not None:
            rejects_out = rejects_path.open("wb")
        for path in files:
            stats = ParseStats(origin=str(path))
            for result in parse_file(path, options=options, stats=stats):
                if isinstance(result, ParsedDocument):
                    if docs_out is not None:
                        docs_out.write(result.source_bytes() + b"\n")
                elif rejects_out is not None:
                    rejects_out.write(orjson.dumps(result.to_json_dict()) + b"\n")
            per_file.append(stats)
            total.add(stats)
    finally:
        if docs_out is not None:
            docs_out.flush()
            if out_path is not None:
                docs_out.close()
        if rejects_out is not None:
            rejects_out.close()
    summary = parse_summary(total, per_file)
    if as_json:
        emit(summary, True, lambda out: None)
    else:
        _render(Console(stderr=True, highlight=False), summary)


def parse_summary(total: ParseStats, per_file: list[ParseStats]) -> dict[str, Any]:
    return {
        "files": len(per_file),
        "records_in": total.records_in,
        "parsed": total.parsed,
        "rejected": total.rejected,
        "rejected_by_reason": dict(sorted(total.rejected_by_reason.items())),
        "truncated_files": [s.origin for s in per_file if s.truncated],
        "per_file": [s.to_json_dict() for s in per_file],
    }


def _render(out: Console, summary: dict[str, Any]) -> None:
    out.print(
        f"{summary['files']} files: {summary['records_in']} records in, "
        f"{summary['parsed']} parsed, {summary['rejected']} rejected",
        markup=False,
    )
    for reason, count in summary["rejected_by_reason"].items():
        out.print(f"  rejected {reason}: {count}", markup=False)
    for name in summary["truncated_files"]:
        out.print(f"  truncated: {name}", markup=False)


def register(root: click.Group) -> None:
    root.add_command(parse_command)
