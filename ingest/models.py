"""Ingest accounting: every record read is indexed, a duplicate, or dead-lettered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

OriginKind = Literal["file", "s3", "firehose"]


class StreamReport(BaseModel):
    """One file, S3 object or Firehose request."""

    origin: str
    kind: OriginKind
    records_in: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    truncated: bool = False
    error: str | None = Field(default=None, description="why the stream could not be read")
    bytes_read: int = 0

    @property
    def balanced(self) -> bool:
        return self.records_in == self.indexed + self.duplicates + self.dead_lettered


class IngestReport(BaseModel):
    """A run over many streams."""

    streams: list[StreamReport] = Field(default_factory=list)
    records_in: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failed_streams: int = 0
    truncated_streams: int = 0
    seconds: float = 0.0

    def add(self, stream: StreamReport) -> None:
        self.streams.append(stream)
        self.records_in += stream.records_in
        self.indexed += stream.indexed
        self.duplicates += stream.duplicates
        self.dead_lettered += stream.dead_lettered
        self.failed_streams += stream.error is not None
        self.truncated_streams += stream.truncated

    @property
    def balanced(self) -> bool:
        return self.records_in == self.indexed + self.duplicates + self.dead_lettered
