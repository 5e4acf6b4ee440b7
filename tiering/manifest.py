"""Reading and writing a partition's ``_manifest.json``; removing uncommitted files."""

from __future__ import annotations

from datetime import date

from tiering.models import Manifest
from tiering.store import MANIFEST, ColdStore, partition_dir


def manifest_path(day: date) -> str:
    return f"{partition_dir(day)}/{MANIFEST}"


def load_manifest(store: ColdStore, day: date) -> Manifest | None:
    data = store.get_bytes(manifest_path(day))
    return Manifest.model_validate_json(data) if data is not None else None


def write_manifest(store: ColdStore, manifest: Manifest) -> None:
    store.put_bytes(manifest_path(manifest.date), manifest.model_dump_json(indent=2).encode())


def remove_uncommitted(store: ColdStore, day: date, manifest: Manifest | None) -> list[str]:
    """Delete every file of the partition that its manifest does not list (parts and
    rollup of a run that crashed before committing, temporaries). Call only while
    holding the lease."""
    keep = {MANIFEST} | (manifest.names() if manifest else set())
    removed: list[str] = []
    for stored in store.list_files(partition_dir(day)):
        name = stored.rel.split("/", 1)[1]
        if name not in keep:
            store.delete(stored.rel)
            removed.append(name)
    return removed
