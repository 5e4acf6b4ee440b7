"""The cold store: a local directory or ``s3://bucket/prefix``, one small interface.

Paths are relative to ``<root>/waf_logs`` (the table directory): ``date=YYYY-MM-DD/x``.
Writes to S3 go through boto3 (its checksum settings suit S3Proxy and other S3 servers);
reads go through pyarrow filesystems, which both Parquet and DuckDB (via Arrow datasets)
use. Small objects (the manifest) are replaced atomically: a rename locally, one PUT on S3.
"""

from __future__ import annotations

import os
import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from wafsiem.errors import WafsiemError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from wafsiem.settings import Settings

TABLE = "waf_logs"
MANIFEST = "_manifest.json"
_PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.=-]+$")


def partition_dir(day: date) -> str:
    return f"date={day.isoformat()}"


def parse_partition(name: str) -> date | None:
    match = _PARTITION.match(name)
    return date.fromisoformat(match.group(1)) if match else None


def _check_rel(rel: str) -> str:
    parts = rel.split("/")
    if not parts or any(not _SAFE_NAME.match(p) or p in (".", "..") for p in parts):
        raise ValueError(f"unsafe cold-store path {rel!r}")
    return rel


@dataclass(frozen=True)
class StoredFile:
    rel: str
    size: int


class ColdStore(ABC):
    """Files under ``<root>/waf_logs``; ``rel`` paths are ``date=.../name``."""

    uri: str

    @abstractmethod
    def put_file(self, local: Path, rel: str) -> None:
        """Move/upload a finished local file to ``rel`` (the local file is consumed)."""

    @abstractmethod
    def put_bytes(self, rel: str, data: bytes) -> None:
        """Write a small object atomically."""

    @abstractmethod
    def get_bytes(self, rel: str) -> bytes | None: ...

    @abstractmethod
    def list_files(self, rel_dir: str = "") -> list[StoredFile]:
        """Every file under ``rel_dir`` (recursive), hidden temporaries included."""

    @abstractmethod
    def delete(self, rel: str) -> None: ...

    @abstractmethod
    def arrow_filesystem(self) -> tuple[Any, str]:
        """A pyarrow filesystem and the table directory's path within it."""

    @abstractmethod
    def spool_dir(self, rel_dir: str) -> Path:
        """A local directory to write a file in before :meth:`put_file`."""

    def clear_spool(self, day: date) -> None:  # noqa: B027 (nothing to do by default)
        """Remove local temporaries a crashed run left for ``day`` (under the lease)."""

    def arrow_path(self, rel: str) -> str:
        _, base = self.arrow_filesystem()
        return f"{base}/{_check_rel(rel)}"

    def open_input(self, rel: str) -> Any:
        fs, base = self.arrow_filesystem()
        return fs.open_input_file(f"{base}/{_check_rel(rel)}")

    def partitions(self) -> list[date]:
        days = {parse_partition(f.rel.split("/", 1)[0]) for f in self.list_files() if "/" in f.rel}
        return sorted(d for d in days if d is not None)


class LocalStore(ColdStore):
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self.table = self.root / TABLE
        self.uri = str(self.root)

    def _path(self, rel: str) -> Path:
        return self.table / _check_rel(rel)

    def put_file(self, local: Path, rel: str) -> None:
        target = self._path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        local.replace(target)
        _fsync_dir(target.parent)

    def put_bytes(self, rel: str, data: bytes) -> None:
        target = self._path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(target)
        _fsync_dir(target.parent)

    def get_bytes(self, rel: str) -> bytes | None:
        path = self._path(rel)
        return path.read_bytes() if path.is_file() else None

    def list_files(self, rel_dir: str = "") -> list[StoredFile]:
        base = self._path(rel_dir) if rel_dir else self.table
        if not base.is_dir():
            return []
        return sorted(
            (
                StoredFile(p.relative_to(self.table).as_posix(), p.stat().st_size)
                for p in base.rglob("*")
                if p.is_file()
            ),
            key=lambda f: f.rel,
        )

    def delete(self, rel: str) -> None:
        self._path(rel).unlink(missing_ok=True)

    def arrow_filesystem(self) -> tuple[Any, str]:
        from pyarrow import fs

        return fs.LocalFileSystem(), str(self.table)

    def spool_dir(self, rel_dir: str) -> Path:
        path = self._path(rel_dir)  # same directory: put_file is a rename
        path.mkdir(parents=True, exist_ok=True)
        return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Store(ColdStore):
    def __init__(self, client: S3Client, bucket: str, prefix: str, settings: Settings) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings
        base = f"{self.prefix}/{TABLE}" if self.prefix else TABLE
        self.key_base = base
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._fs: Any = None
        self._spool = Path(settings.state_dir) / "tiering-spool"

    def _key(self, rel: str) -> str:
        return f"{self.key_base}/{_check_rel(rel)}"

    def put_file(self, local: Path, rel: str) -> None:
        try:
            self.client.upload_file(str(local), self.bucket, self._key(rel))
        finally:
            local.unlink(missing_ok=True)

    def put_bytes(self, rel: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data)

    def get_bytes(self, rel: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(rel))
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def list_files(self, rel_dir: str = "") -> list[StoredFile]:
        prefix = f"{self._key(rel_dir)}/" if rel_dir else f"{self.key_base}/"
        found: list[StoredFile] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.key_base) + 1 :]
                found.append(StoredFile(rel, int(obj["Size"])))
        return sorted(found, key=lambda f: f.rel)

    def delete(self, rel: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(rel))

    def arrow_filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            from pyarrow import fs

            cfg = self.settings.s3
            kwargs: dict[str, Any] = {"region": cfg.region, "allow_bucket_creation": False}
            if cfg.access_key_id:
                kwargs["access_key"] = cfg.access_key_id
                secret = cfg.secret_access_key
                kwargs["secret_key"] = secret.get_secret_value() if secret else ""
            if cfg.endpoint_url:
                endpoint = urlparse(cfg.endpoint_url)
                kwargs["endpoint_override"] = endpoint.netloc + endpoint.path.rstrip("/")
                kwargs["scheme"] = endpoint.scheme or "https"
            self._fs = fs.S3FileSystem(**kwargs)
        return self._fs, f"{self.bucket}/{self.key_base}"

    def clear_spool(self, day: date) -> None:
        shutil.rmtree(self._spool / partition_dir(day), ignore_errors=True)

    def spool_dir(self, rel_dir: str) -> Path:
        path = self._spool / _check_rel(rel_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path


def open_store(uri: str, settings: Settings, s3: S3Client | None = None) -> ColdStore:
    """The store at ``uri``: ``s3://bucket[/prefix]`` or a local directory."""
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise WafsiemError(f"cold store {uri!r} names no bucket")
        if s3 is None:
            from wafsiem.clients import s3_client

            s3 = s3_client(settings)
        return S3Store(s3, parsed.netloc, parsed.path, settings)
    if "://" in uri:
        raise WafsiemError(f"cold store {uri!r}: only local directories and s3:// are supported")
    return LocalStore(Path(uri))
