"""Cold reads: an embedded, locked-down DuckDB over the committed Parquet partitions.

:func:`cold_connection` opens an in-memory DuckDB that may read only the cold store:
for a local store, ``allowed_directories`` is the table directory and external access is
otherwise off; for ``s3://`` the files are read through pyarrow's S3 filesystem and handed
to DuckDB as an Arrow dataset (no httpfs, no network access from DuckDB). Extensions are
never installed or auto-loaded, and the configuration is locked before any query runs.

The view ``waf_logs`` lists only the files of committed manifests (never a crashed run's
parts, never a partition mid-merge twice) for the requested days; its ``date`` column
comes from the Hive path, so ``WHERE date BETWEEN ? AND ?`` prunes whole files. The view
``waf_rollup`` lists the committed hourly rollups (:mod:`tiering.rollup`) of those days
that have one (``ColdView.rollup_days``), with the same ``date`` column.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tiering.manifest import load_manifest
from tiering.parquet_io import schema
from tiering.rollup import ROLLUP_VERSION, ROLLUP_VIEW, rollup_schema
from tiering.store import LocalStore, partition_dir

VIEW = "waf_logs"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_LOCKDOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


@dataclass
class ColdView:
    connection: Any
    view: str
    days: list[date]
    files: int
    rows: int
    rollup_days: list[date] = field(default_factory=list)  # days ROLLUP_VIEW covers


@dataclass
class _Committed:
    days: list[date] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    rows: int = 0
    rollup_days: list[date] = field(default_factory=list)
    rollup_paths: list[str] = field(default_factory=list)


def _committed_files(
    store: Any, start: date | None, end: date | None, only: Collection[date] | None = None
) -> _Committed:
    found = _Committed()
    for day in store.partitions():
        if (start and day < start) or (end and day > end) or (only is not None and day not in only):
            continue  # pruned before anything is opened
        manifest = load_manifest(store, day)
        if manifest is None or not manifest.files:
            continue
        found.days.append(day)
        found.rows += manifest.rows
        found.paths += [store.arrow_path(f"{partition_dir(day)}/{f.name}") for f in manifest.files]
        rollup = manifest.rollup
        if rollup is not None and rollup.version == ROLLUP_VERSION:  # else: read raw
            found.rollup_days.append(day)
            found.rollup_paths.append(store.arrow_path(f"{partition_dir(day)}/{rollup.name}"))
    return found


def cold_connection(
    store: Any,
    *,
    start: date | None = None,
    end: date | None = None,
    days: Collection[date] | None = None,
    view: str = VIEW,
    threads: int | None = None,
) -> ColdView:
    """A locked-down DuckDB connection with ``view`` over the cold days in [start, end]
    (and, when ``days`` is given, only those).

    Run parameterised SQL on it: ``con.execute("SELECT ... FROM waf_logs WHERE date >= ?
    AND \\"waf.action\\" = ?", [day, "BLOCK"])``. Column names are the flat dotted schema
    names (quote them); ``date`` is the partition date.
    """
    import duckdb

    if not _IDENT.match(view) or view == ROLLUP_VIEW:
        raise ValueError(f"invalid view name {view!r}")
    found = _committed_files(store, start, end, None if days is None else set(days))
    config: dict[str, Any] = {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    if threads:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    try:
        if isinstance(store, LocalStore):
            _, table_dir = store.arrow_filesystem()
            con.execute("SET allowed_directories = $dirs", {"dirs": [table_dir]})
            for statement in _LOCKDOWN:
                con.execute(statement)
            _local_view(con, view, found.paths, schema())
            _local_view(con, ROLLUP_VIEW, found.rollup_paths, rollup_schema())
        else:
            for statement in _LOCKDOWN:
                con.execute(statement)
            _arrow_view(con, view, store, found.paths, schema())
            _arrow_view(con, ROLLUP_VIEW, store, found.rollup_paths, rollup_schema())
    except BaseException:
        con.close()
        raise
    return ColdView(con, view, found.days, len(found.paths), found.rows, found.rollup_days)


def _empty_view(con: Any, view: str, columns: Any) -> None:
    import pyarrow as pa

    empty = columns.empty_table().append_column("date", pa.array([], pa.date32()))
    con.register(view, empty)


def _local_view(con: Any, view: str, paths: list[str], columns: Any) -> None:
    if not paths:
        _empty_view(con, view, columns)
        return
    relation = con.read_parquet(paths, hive_partitioning=True)  # date: autocast to DATE
    relation.create_view(view)


def _arrow_view(con: Any, view: str, store: Any, paths: list[str], columns: Any) -> None:
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not paths:
        _empty_view(con, view, columns)
        return
    fs, base = store.arrow_filesystem()
    dataset = ds.dataset(
        paths,
        filesystem=fs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive"),
        partition_base_dir=base,
    )
    con.register(view, dataset)
