"""Arrow/Parquet side of the cold tier: documents -> Arrow, Parquet parts, read-back,
the set digest of ``event.id`` and the flat row -> nested document conversion (restore)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from tiering.models import ManifestFile
from tiering.store import ColdStore, partition_dir
from wafsiem.schema import FIELDS, arrow_schema
from wafsiem.schema.model import _timestamp_ms as flatten_date

ROW_GROUP_ROWS = 128 * 1024
FILE_ROWS = 32 * ROW_GROUP_ROWS
ZSTD_LEVEL = 9
DATA_PAGE_BYTES = 64 * 1024 * 1024
PLAIN_ENCODINGS = {
    "@timestamp": "DELTA_BINARY_PACKED",
    "event.id": "DELTA_LENGTH_BYTE_ARRAY",
    "event.original": "DELTA_LENGTH_BYTE_ARRAY",
    "http.request.id": "DELTA_LENGTH_BYTE_ARRAY",
}
_MASK = (1 << 128) - 1


@lru_cache(maxsize=1)
def schema() -> Any:
    return arrow_schema()


@dataclass
class IdDigest:
    """Order-independent digest of a set of ids: the sum of their 128-bit BLAKE2b hashes
    modulo 2**128, with the count. Equal sets give equal digests whatever the order."""

    count: int = 0
    total: int = 0

    def add(self, ident: str) -> None:
        h = hashlib.blake2b(ident.encode(), digest_size=16).digest()
        self.total = (self.total + int.from_bytes(h, "big")) & _MASK
        self.count += 1

    def update(self, idents: Iterable[str]) -> None:
        for ident in idents:
            self.add(ident)

    def merge(self, other: IdDigest) -> None:
        self.total = (self.total + other.total) & _MASK
        self.count += other.count

    @property
    def hex(self) -> str:
        return f"{self.total:032x}"


def id_digest(idents: Iterable[str]) -> str:
    digest = IdDigest()
    digest.update(idents)
    return digest.hex


_EMPTY: dict[str, Any] = {}
# each schema field with the path of its parent object and its own key
_FIELD_PATHS: list[tuple[Any, tuple[str, ...], str]] = [
    (spec, tuple(spec.name.split(".")[:-1]), spec.name.split(".")[-1]) for spec in FIELDS
]


def _date_ms(value: Any) -> Any:
    # the date conversion of ``flatten_document`` (ints pass through)
    return value if value is None or value.__class__ is int else flatten_date(value)


def table_from_sources(sources: list[dict[str, Any]]) -> Any:
    """An Arrow table (the schema's flat columns) from nested documents: the same values
    as ``flatten_document`` per row, built one column at a time."""
    import pyarrow as pa

    # each object level once: the sub-object of every document, or an empty dict
    parents: dict[tuple[str, ...], list[dict[str, Any]]] = {(): sources}
    arrays = []
    for (spec, parent, key), arrow_field in zip(_FIELD_PATHS, schema(), strict=True):
        nodes = parents.get(parent)
        if nodes is None:
            nodes = parents[()]
            for depth in range(1, len(parent) + 1):
                level = parent[:depth]
                found = parents.get(level)
                if found is None:
                    part = level[-1]
                    children = [n.get(part) for n in nodes]
                    found = [v if isinstance(v, dict) else _EMPTY for v in children]
                    parents[level] = found
                nodes = found
        values = [n.get(key) for n in nodes]
        if spec.type == "date":
            values = [_date_ms(v) for v in values]
        elif spec.type in ("object", "flat_object"):
            dumps = orjson.dumps
            values = [None if v is None else dumps(v).decode() for v in values]
        elif spec.multi:
            values = [v if v is None or isinstance(v, list) else [v] for v in values]
        arrays.append(pa.array(values, type=arrow_field.type))
    return pa.Table.from_arrays(arrays, schema=schema())


def sort_table(table: Any) -> Any:
    return table.sort_by([("@timestamp", "ascending"), ("event.id", "ascending")])


def dedup_table(table: Any) -> Any:
    """Keep the first row of each ``event.id``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    numbered = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    firsts = numbered.group_by("event.id", use_threads=False).aggregate([("__row", "min")])
    keep = pc.sort_indices(firsts["__row_min"])
    return table.take(pc.take(firsts["__row_min"], keep))


def _writer_options() -> dict[str, Any]:
    import pyarrow.parquet as pq

    columns = [spec.name for spec in FIELDS]
    return {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        # dictionaries for the repetitive columns; the unique ones (the raw record, the
        # ids) as contiguous bytes, the sorted @timestamp as deltas
        "use_dictionary": [c for c in columns if c not in PLAIN_ENCODINGS],
        "column_encoding": PLAIN_ENCODINGS,
        # large pages give zstd more of the raw records to find repeats in
        "data_page_size": DATA_PAGE_BYTES,
        "max_rows_per_page": ROW_GROUP_ROWS,
        "write_statistics": True,
        "sorting_columns": [pq.SortingColumn(0)],  # @timestamp, the first column
    }


@dataclass
class PartWriter:
    """Writes sorted Arrow pages of one partition into Parquet part files.

    Pages are buffered into row groups of :data:`ROW_GROUP_ROWS`; a file is rolled after
    :data:`FILE_ROWS`. Each finished file goes to the store (a rename locally, an upload to
    S3) under a name that no other run uses; ``on_file`` is called after each.
    """

    store: ColdStore
    day: date
    run_id: str
    tag: str
    row_group_rows: int = ROW_GROUP_ROWS
    file_rows: int = FILE_ROWS
    files: list[ManifestFile] = field(default_factory=list)
    _pending: list[Any] = field(default_factory=list)
    _pending_rows: int = 0
    _writer: Any = None
    _local: Path | None = None
    _name: str = ""
    _file_rows: int = 0
    _seq: int = 0

    def write(self, table: Any) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.row_group_rows:
            self._flush(self.row_group_rows)

    def _flush(self, rows: int) -> None:
        import pyarrow as pa

        merged = pa.concat_tables(self._pending)
        group, rest = merged.slice(0, rows), merged.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        self._open()
        self._writer.write_table(group, row_group_size=group.num_rows)
        self._file_rows += group.num_rows
        if self._file_rows >= self.file_rows:
            self._close_file()

    def _open(self) -> None:
        import pyarrow.parquet as pq

        if self._writer is not None:
            return
        self._name = f"part-{self.run_id}-{self.tag}-{self._seq:04d}.parquet"
        self._seq += 1
        spool = self.store.spool_dir(partition_dir(self.day))
        self._local = spool / f".{self._name}.{uuid.uuid4().hex[:8]}.tmp"
        self._writer = pq.ParquetWriter(str(self._local), schema(), **_writer_options())
        self._file_rows = 0

    def _close_file(self) -> None:
        if self._writer is None or self._local is None:
            return
        self._writer.close()
        size = self._local.stat().st_size
        self.store.put_file(self._local, f"{partition_dir(self.day)}/{self._name}")
        self.files.append(ManifestFile(name=self._name, rows=self._file_rows, bytes=size))
        self._writer, self._local = None, None

    def close(self) -> list[ManifestFile]:
        while self._pending_rows:
            self._flush(min(self._pending_rows, self.row_group_rows))
        self._close_file()
        return self.files

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._local is not None:
            self._local.unlink(missing_ok=True)
        self._writer, self._local = None, None


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}{uuid.uuid4().hex[:6]}"


@dataclass
class ReadBack:
    rows: int
    digest: str
    distinct: int
    schema_ok: bool


def read_back(store: ColdStore, day: date, files: list[ManifestFile]) -> ReadBack:
    """Read the ``event.id`` column of every file from the store itself."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    digest = IdDigest()
    distinct: set[str] = set()
    schema_ok = True
    expected = schema()
    for entry in files:
        with store.open_input(f"{partition_dir(day)}/{entry.name}") as handle:
            parquet = pq.ParquetFile(handle)
            schema_ok = schema_ok and parquet.schema_arrow.equals(expected)
            ids = parquet.read(columns=["event.id"])["event.id"]
            if ids.null_count:
                schema_ok = False
            values = pc.drop_null(ids).to_pylist()
            digest.update(values)
            distinct.update(values)
    return ReadBack(digest.count, digest.hex, len(distinct), schema_ok)


def read_partition(store: ColdStore, day: date, files: list[ManifestFile]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for entry in files:
        with store.open_input(f"{partition_dir(day)}/{entry.name}") as handle:
            tables.append(pq.ParquetFile(handle).read())
    return pa.concat_tables(tables) if tables else schema().empty_table()


def iter_partition_batches(store: ColdStore, day: date, files: list[ManifestFile]) -> Any:
    import pyarrow.parquet as pq

    for entry in files:
        with store.open_input(f"{partition_dir(day)}/{entry.name}") as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=4096)


def _iso_ms(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def unflatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """The nested document of a flat Arrow row (the inverse of ``flatten_document``)."""
    doc: dict[str, Any] = {}
    for spec in FIELDS:
        value = row.get(spec.name)
        if value is None:
            continue
        if spec.type == "date" and isinstance(value, datetime):
            # as the parser writes them: @timestamp ISO 8601, the other dates epoch ms
            value = _iso_ms(value) if spec.name == "@timestamp" else _epoch_ms(value)
        elif spec.type in ("object", "flat_object"):
            value = orjson.loads(value)
        node = doc
        parts = spec.name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return doc
