"""The detector over the generator's labelled scenario suite: precision, recall, and the
time from each false-positive spike's onset to the first override decision.

Generates the suite (baseline plus every scenario, each starting after an hour of
baseline), ingests it into a fresh index prefix, runs the backtest with a 1-minute step
(ALLOW_RULES ``*``, nothing protected, the default thresholds) and scores it against the
ground truth. The index is deleted afterwards unless ``--keep``.

    eval "$(wafsiem stack env)"
    python benchmarks/detector.py [--rps 20] [--seed 7] [--decisions]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# This script is named like nothing importable, but keep its folder off the path anyway.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from ingest.bulk import BulkIndexer  # noqa: E402
from ingest.generator.models import GenerateOptions, GroundTruth, ScenarioSpec  # noqa: E402
from ingest.generator.service import generate  # noqa: E402
from ingest.generator.writers import LocalSink  # noqa: E402
from ingest.parser import ParserOptions  # noqa: E402
from ingest.service import IngestTarget, ingest_files  # noqa: E402
from query.service import QueryContext  # noqa: E402
from rules_admin.detector import Detector  # noqa: E402
from tiering.store import open_store  # noqa: E402
from wafsiem.clients import opensearch_client  # noqa: E402
from wafsiem.schema import index_template  # noqa: E402
from wafsiem.settings import DetectorSettings, get_settings  # noqa: E402

START = datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
SUITE = (
    "fp-size-body@+70m",
    "fp-xss-body@+75m",
    "sqli-scanner@+80m",
    "xss-scanner@+85m",
    "credential-stuffing@+90m",
    "bad-bots@+95m",
)
HOURS = 2.5
GOAL_SECONDS = 120


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=float, default=20.0)
    parser.add_argument("--domains", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step", type=int, default=60, help="seconds between evaluations")
    parser.add_argument("--prefix", default=None, help="reuse an already ingested prefix")
    parser.add_argument("--truth", default=None, help="its ground-truth.json (with --prefix)")
    parser.add_argument("--keep", action="store_true", help="keep the index for another run")
    parser.add_argument("--decisions", action="store_true", help="print every decision")
    args = parser.parse_args()

    settings = get_settings()
    client = opensearch_client(settings)
    folder = Path(tempfile.mkdtemp(prefix="wafsiem-detector-"))
    if args.prefix:
        prefix, truth = args.prefix, GroundTruth.model_validate_json(Path(args.truth).read_text())
    else:
        prefix = f"bench-det-{uuid.uuid4().hex[:8]}-waf-logs"
        options = GenerateOptions(
            start=START,
            hours=HOURS,
            rps=args.rps,
            domains=args.domains,
            seed=args.seed,
            scenarios=[ScenarioSpec.parse(s, START) for s in SUITE],
        )
        began = time.perf_counter()
        summary = generate(options, LocalSink(folder))
        client.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
        target = IngestTarget(index_prefix=prefix, deadletter_index=f"{prefix}-deadletter")
        indexer = BulkIndexer(client, max_bytes=4 * 1024 * 1024, concurrency=2)
        report = ingest_files(
            sorted(folder.rglob("*.gz")), indexer=indexer, options=ParserOptions(), target=target
        )
        client.indices.refresh(index=f"{prefix}-*")
        print(
            f"suite: {summary.records} records ({report.indexed} indexed) in "
            f"{time.perf_counter() - began:.1f} s; prefix {prefix}"
        )
        truth = GroundTruth.model_validate_json((folder / "ground-truth.json").read_text())
    try:
        score(args, settings, client, prefix, truth)
    finally:
        if not args.keep and not args.prefix:
            client.indices.delete(index=f"{prefix}-*", ignore=[404])
            client.indices.delete_index_template(name=prefix, ignore=[404])
        elif args.keep:
            print(f"kept: --prefix {prefix} --truth {folder / 'ground-truth.json'}")


def score(args: argparse.Namespace, settings, client, prefix: str, truth: GroundTruth) -> None:  # type: ignore[no-untyped-def]
    ctx = QueryContext(
        opensearch=client,
        store=open_store(str(Path(tempfile.mkdtemp()) / "cold"), settings),
        index_prefix=prefix,
        state_index=settings.opensearch.state_index,
        limits=settings.query,
    )
    cfg = DetectorSettings(allow_rules=["*"])
    detector = Detector(ctx, cfg)
    began = time.perf_counter()
    decisions = list(
        detector.backtest(
            truth.start + timedelta(minutes=cfg.window_minutes),
            truth.end,
            timedelta(seconds=args.step),
        )
    )
    seconds = time.perf_counter() - began
    steps = int((truth.end - truth.start).total_seconds() // args.step)
    if args.decisions:
        for d in decisions:
            print(json.dumps(d.as_json()))
    fps = [s for s in truth.scenarios if s.kind == "false_positive"]
    fp_targets = {(s.webacl_name, s.rule, s.sub_rule): s for s in fps}
    flagged = [d for d in decisions if d.verdict == "false_positive"]
    right = [d for d in flagged if (d.key.webacl, d.key.rule, d.key.sub_rule) in fp_targets]
    wrong = [d for d in flagged if d not in right]
    print(
        f"backtest: {steps} steps of {args.step} s in {seconds:.1f} s, {len(decisions)} decisions"
    )
    precision = len(right) / len(flagged) if flagged else 1.0
    caught = 0
    print(f"{'scenario':<22}{'kind':<16}{'rule':<60}{'first override':>16}")
    for s in truth.scenarios:
        if s.kind == "baseline":
            continue
        key = (s.webacl_name, s.rule, s.sub_rule)
        mine = [
            d
            for d in decisions
            if (d.key.webacl, d.key.rule, d.key.sub_rule) == key and d.action == "override"
        ]
        first = "-"
        if mine:
            delay = (mine[0].at - s.start).total_seconds()
            first = f"+{delay:.0f} s"
            if s.kind == "false_positive" and delay <= GOAL_SECONDS:
                caught += 1
        kept = sum(
            1
            for d in decisions
            if (d.key.webacl, d.key.rule, d.key.sub_rule) == key and d.action == "keep"
        )
        label = f"{s.rule}:{s.sub_rule}" if s.sub_rule else str(s.rule)
        print(f"{s.name:<22}{s.kind:<16}{label[:58]:<60}{first:>16}  (kept {kept}x)")
    recall = (
        len({(d.key.webacl, d.key.rule, d.key.sub_rule) for d in right}) / len(fps) if fps else 1.0
    )
    print(
        f"precision {precision:.3f} ({len(right)} of {len(flagged)} false-positive verdicts right"
        f"{'; wrong: ' + ', '.join(sorted({d.key.label() for d in wrong})) if wrong else ''}), "
        f"recall {recall:.3f}, {caught}/{len(fps)} false-positive rules overridden within "
        f"{GOAL_SECONDS} s of onset"
    )


if __name__ == "__main__":
    main()
