"""Pydantic models of the tiering job: manifest, ledger entries, reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

DayState = Literal["hot", "tiering", "cold"]
DayAction = Literal[
    "tiered",  # exported, verified, manifest written, hot index deleted
    "merged",  # late data merged into an existing cold partition
    "index_dropped",  # the hot index held nothing the partition lacks: deleted
    "finished",  # an interrupted run had deleted the index: ledger completed
    "would_tier",  # --dry-run
    "would_merge",  # --dry-run
    "skipped_leased",  # another job holds this day's lease
    "skipped_restored",  # restored for investigation; kept hot until restored_until
    "left_hot",  # the index changed while it was exported: kept, next run merges the rest
    "failed",
]


class ManifestFile(BaseModel):
    name: str = Field(description="file name inside the partition directory")
    rows: int
    bytes: int


class RollupFile(BaseModel):
    """The partition's hourly rollup (:mod:`tiering.rollup`), in the partition directory."""

    name: str
    rows: int
    bytes: int
    version: int


class Manifest(BaseModel):
    """``<cold>/waf_logs/date=YYYY-MM-DD/_manifest.json``: the partition's committed files."""

    date: date
    files: list[ManifestFile]
    rows: int
    digest: str = Field(description="set digest of event.id (tiering.parquet_io.id_digest)")
    schema_version: int
    created: datetime
    source_indices: list[str] = Field(default_factory=list)
    run_id: str = ""
    rollup: RollupFile | None = Field(default=None, description="absent in older manifests")

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def names(self) -> set[str]:
        """The committed file names: the parts and the rollup."""
        return {f.name for f in self.files} | ({self.rollup.name} if self.rollup else set())


class LedgerEntry(BaseModel):
    date: date
    state: DayState
    index: str
    rows: int | None = None
    bytes_hot: int | None = None
    bytes_cold: int | None = None
    files: int | None = None
    digest: str | None = None
    error: str | None = None
    restored_until: datetime | None = None
    updated: datetime | None = None


class DayResult(BaseModel):
    date: date
    index: str
    action: DayAction
    rows: int = 0
    rows_added: int = 0
    files: int = 0
    bytes_hot: int = 0
    bytes_cold: int = 0
    seconds: float = 0.0
    error: str | None = None


class RunReport(BaseModel):
    hot_days: int
    cutoff: date
    dry_run: bool = False
    days: list[DayResult] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for d in self.days if d.action == "failed")


class DayStatus(BaseModel):
    date: date
    state: DayState
    index: str
    hot_index: bool = False
    rows: int | None = None
    rows_hot: int | None = None
    bytes_hot: int | None = None
    bytes_cold: int | None = None
    ratio: float | None = Field(default=None, description="bytes_cold / bytes_hot")
    files: int | None = None
    restored_until: datetime | None = None
    error: str | None = None


class RestoreReport(BaseModel):
    date: date
    index: str
    rows: int
    indexed: int
    duplicates: int
    rejected: int
    restored_until: datetime
    seconds: float = 0.0
