"""Run a generation: baseline + scenarios, bucket by bucket (5-minute windows aligned to
the clock), written as gzip files per web ACL (WAF direct-to-S3 or Firehose layout) or
POSTed to a Firehose HTTP endpoint; then the ground truth."""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import orjson

from ingest.generator.engine import Engine
from ingest.generator.models import (
    GenerateOptions,
    GenerateSummary,
    GroundTruth,
    RuleCount,
    ScenarioTruth,
)
from ingest.generator.records import RecordBuilder
from ingest.generator.scenarios import Context, Scenario, registry
from ingest.generator.topology import Topology
from ingest.generator.traffic import BUCKET_MS, Baseline, Event
from ingest.generator.writers import (
    GROUND_TRUTH_NAME,
    FirehoseHttpSender,
    Sink,
    firehose_delivery_ms,
    firehose_key,
    waf_s3_key,
)

# progress(records, files, bytes) after each bucket
Progress = Callable[[int, int, int], None]
MAX_VERDICTS = 1 << 16


def scenario_names() -> list[str]:
    return sorted(registry())


class Assembler:
    """Collects one web ACL's chunks for one bucket: compresses as it goes (files) and/or
    keeps the records (Firehose HTTP)."""

    def __init__(self, options: GenerateOptions, files: bool, lines: bool) -> None:
        self.newlines = options.newlines
        self.compressor = (
            zlib.compressobj(options.compress_level, zlib.DEFLATED, 31) if files else None
        )
        self.parts: list[bytes] = []
        self.keep_lines = lines
        self.lines: list[bytes] = []
        self.records = 0
        self.raw = 0

    def consume(self, chunk: bytes) -> None:
        self.records += chunk.count(b"\n")
        if self.keep_lines:
            self.lines.extend(chunk.split(b"\n")[:-1])
        if not self.newlines:  # records never contain a raw newline
            chunk = chunk.replace(b"\n", b"")
        self.raw += len(chunk)
        if self.compressor is not None:
            self.parts.append(self.compressor.compress(chunk))

    def gzip(self) -> bytes:
        assert self.compressor is not None
        self.parts.append(self.compressor.flush())
        return b"".join(self.parts)


class Consumer(Protocol):
    def consume(self, chunk: bytes) -> None: ...


@dataclass
class _Totals:
    records: int = 0
    files: int = 0
    bytes: int = 0
    raw: int = 0
    verdicts: Counter[int] = field(default_factory=Counter)


class Generator:
    """Holds the estate and scenarios for one run; ``run`` writes everything."""

    def __init__(self, options: GenerateOptions) -> None:
        self.options = options
        self.topology = Topology(options.domains)
        self.engine = Engine(self.topology.acls)
        self.builder = RecordBuilder()
        expected = int(options.rps * options.hours * 3600)
        self.baseline = Baseline(self.topology, self.engine, self.builder, options.seed, expected)
        ctx = Context(self.topology, self.engine, self.builder, self.baseline, options.seed)
        self.scenarios = self._scenarios(ctx)

    def _scenarios(self, ctx: Context) -> list[Scenario]:
        known = registry()
        options = self.options
        seen: Counter[str] = Counter()
        out: list[Scenario] = []
        for spec in options.scenarios:
            if spec.name == "baseline":
                continue
            cls = known.get(spec.name)
            if cls is None:
                raise ValueError(
                    f"unknown scenario {spec.name!r}; known: baseline, " + ", ".join(sorted(known))
                )
            start = spec.start or options.start + (options.end - options.start) / 4
            if not options.start <= start < options.end:
                raise ValueError(
                    f"scenario {spec.name} starts at {start.isoformat()}, outside "
                    f"{options.start.isoformat()} .. {options.end.isoformat()}"
                )
            end = min(start + timedelta(minutes=spec.minutes or cls.default_minutes), options.end)
            seen[spec.name] += 1
            sid = spec.name if seen[spec.name] == 1 else f"{spec.name}#{seen[spec.name]}"
            out.append(
                cls(
                    ctx,
                    sid,
                    int(start.timestamp() * 1000),
                    int(end.timestamp() * 1000),
                    spec.intensity,
                )
            )
        return out

    def buckets(self) -> list[tuple[int, int]]:
        start, end = self.options.start_ms, self.options.end_ms
        first = start - start % BUCKET_MS
        return [(max(b, start), min(b + BUCKET_MS, end)) for b in range(first, end, BUCKET_MS)]

    def generate_bucket(self, lo: int, hi: int, consumers: Sequence[Consumer]) -> list[int]:
        """Generate one bucket in time order, handing newline-delimited chunks of whole
        records to ``consumers[acl.index]``. Returns baseline record counts by verdict slot."""
        buffers: list[list[bytes]] = [[] for _ in self.topology.acls]
        counts = [0] * MAX_VERDICTS
        events: list[Event] = []
        for scenario in self.scenarios:
            events.extend(scenario.bucket(lo, hi))
        events.sort(key=lambda e: e[0])

        def spill(index: int) -> None:
            buf = buffers[index]
            buf.append(b"")  # the trailing newline
            consumers[index].consume(b"\n".join(buf))
            buf.clear()

        self.baseline.bucket(lo, hi, self.options.rps, events, buffers, spill, counts)
        for index, buf in enumerate(buffers):
            if buf:
                spill(index)
        return counts

    def run(
        self,
        sink: Sink | None,
        firehose: FirehoseHttpSender | None = None,
        progress: Progress | None = None,
    ) -> GenerateSummary:
        options = self.options
        began = time.perf_counter()
        totals = _Totals()
        for lo, hi in self.buckets():
            bucket_start = lo - lo % BUCKET_MS
            consumers = [
                Assembler(options, sink is not None, firehose is not None)
                for _ in self.topology.acls
            ]
            counts = self.generate_bucket(lo, hi, consumers)
            for slot, count in enumerate(counts):
                if count:
                    totals.verdicts[slot] += count
            for acl in self.topology.acls:
                part = consumers[acl.index]
                if not part.records:
                    continue
                totals.records += part.records
                totals.raw += part.raw
                delivered = firehose_delivery_ms(bucket_start + BUCKET_MS, acl, options.seed)
                if firehose is not None:
                    firehose.send(acl, part.lines, delivered, options.seed)
                if sink is None:
                    continue
                if options.layout == "waf-s3":
                    key = waf_s3_key(acl, bucket_start, options.seed)
                else:
                    key = firehose_key(acl, delivered, options.seed)
                blob = part.gzip()
                sink.put(key, blob)
                totals.files += 1
                totals.bytes += len(blob)
            if progress is not None:
                progress(totals.records, totals.files, totals.bytes)
        truths = [self.baseline_truth(totals)] + [s.truth() for s in self.scenarios]
        truth_path = None
        if sink is not None:
            document = self.ground_truth(truths)
            sink.put(
                GROUND_TRUTH_NAME,
                orjson.dumps(document.model_dump(mode="json"), option=orjson.OPT_INDENT_2),
            )
            truth_path = sink.location(GROUND_TRUTH_NAME)
        elapsed = time.perf_counter() - began
        if firehose is not None:
            totals.bytes += firehose.stats.bytes
        return GenerateSummary(
            records=totals.records,
            files=totals.files,
            bytes=totals.bytes,
            bytes_uncompressed=totals.raw,
            requests=firehose.stats.requests if firehose else 0,
            seconds=round(elapsed, 3),
            records_per_second=round(totals.records / elapsed, 1) if elapsed > 0 else 0.0,
            out=sink.location("").rstrip("/") if sink is not None else None,
            layout=options.layout if sink is not None else None,
            firehose_url=firehose.url if firehose else None,
            start=options.start,
            end=options.end,
            scenarios={t.id: t.records for t in truths},
            ground_truth=truth_path,
            truth=truths,
        )

    def baseline_truth(self, totals: _Totals) -> ScenarioTruth:
        by_id = {v.slot: v for v in self.engine.cached()}
        rules: Counter[tuple[str, str, str | None, str | None, str]] = Counter()
        actions: Counter[str] = Counter()
        for vid, count in totals.verdicts.items():
            v = by_id[vid]
            rules[
                (v.terminating_rule_id, v.terminating_rule_type, v.group, v.sub_rule, v.action)
            ] += count
            actions[v.action] += count
        return ScenarioTruth(
            id="baseline",
            name="baseline",
            kind="baseline",
            description="diurnal traffic over all domains with background noise",
            start=self.options.start,
            end=self.options.end,
            records=sum(actions.values()),
            records_by_action=dict(sorted(actions.items())),
            rules=[
                RuleCount(rule=r, rule_type=t, group=g, sub_rule=s, action=a, records=n)
                for (r, t, g, s, a), n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0][0]))
            ],
            hosts=[],
            countries=[],
        )

    def ground_truth(self, truths: list[ScenarioTruth]) -> GroundTruth:
        return GroundTruth(
            seed=self.options.seed,
            start=self.options.start,
            end=self.options.end,
            rps=self.options.rps,
            domains=self.options.domains,
            layout=self.options.layout,
            webacls=[
                {
                    "name": a.name,
                    "arn": a.arn,
                    "scope": a.scope,
                    "region": a.region,
                    "account": a.account,
                    "httpSourceName": a.source_name,
                }
                for a in self.topology.active_acls
            ],
            scenarios=truths,
        )


def generate(
    options: GenerateOptions,
    sink: Sink | None,
    firehose: FirehoseHttpSender | None = None,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Generate ``options`` into ``sink`` (files) and/or ``firehose`` (HTTP endpoint)."""
    if sink is None and firehose is None:
        raise ValueError("nothing to write to: give an output (sink) or a Firehose endpoint")
    return Generator(options).run(sink, firehose, progress)


def now_utc() -> datetime:
    return datetime.now(UTC)
