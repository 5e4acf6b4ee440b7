"""Resolve the local stack's pinned Java servers with Maven into the cache directory.

The pom next to this module pins the versions; each server is one Maven profile and is
copied into ``<cache_dir>/artifacts/<profile>-<pom digest>/``, so a changed pin resolves
afresh and an unchanged one is never downloaded twice.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

from wafsiem.errors import WafsiemError

POM = Path(__file__).with_name("pom.xml")
PROFILES = ("opensearch", "s3proxy", "elasticmq")
_DONE = ".complete"


def pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()[:12]


def artifact_dir(cache_dir: Path, profile: str) -> Path:
    return cache_dir / "artifacts" / f"{profile}-{pom_digest()}"


def is_resolved(cache_dir: Path, profile: str) -> bool:
    return (artifact_dir(cache_dir, profile) / _DONE).exists()


def resolve(cache_dir: Path, profile: str, log_dir: Path) -> Path:
    """The directory holding ``profile``'s jars (or unpacked OpenSearch), resolving it once."""
    target = artifact_dir(cache_dir, profile)
    if (target / _DONE).exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise WafsiemError(
            f"{profile}: Maven (mvn) is not on PATH, so the pinned artifact cannot be resolved",
            hint="install Maven (Debian: apt-get install maven) or put mvn on PATH",
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"maven-{profile}.log"
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(POM),
        "-P",
        profile,
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    ]
    with log.open("wb") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if result.returncode != 0:
        raise WafsiemError(
            f"{profile}: the Maven artifact could not be resolved (mvn exit {result.returncode})",
            hint=f"see {log}; Maven Central must be reachable",
        )
    if profile == "opensearch":
        _unpack_opensearch(staging)
    (staging / _DONE).write_text(pom_digest())
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _unpack_opensearch(staging: Path) -> None:
    archives = list(staging.glob("opensearch-*.zip"))
    if len(archives) != 1:
        raise WafsiemError(f"opensearch: expected one distribution zip in {staging}")
    with zipfile.ZipFile(archives[0]) as archive:
        for member in archive.infolist():
            # refuse entries that would escape the staging directory
            dest = (staging / member.filename).resolve()
            if not dest.is_relative_to(staging.resolve()):
                raise WafsiemError(f"opensearch: unsafe path in archive: {member.filename}")
            archive.extract(member, staging)
            mode = (member.external_attr >> 16) & 0o777
            if mode and not member.is_dir():
                dest.chmod(mode)
    archives[0].unlink()


def opensearch_home(cache_dir: Path) -> Path:
    base = artifact_dir(cache_dir, "opensearch")
    homes = [p for p in base.glob("opensearch-*") if p.is_dir()]
    if not homes:
        raise WafsiemError(f"opensearch: no unpacked distribution in {base}")
    return homes[0]


def classpath(cache_dir: Path, profile: str) -> str:
    return str(artifact_dir(cache_dir, profile) / "*")
