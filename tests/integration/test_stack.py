"""`wafsiem stack` on its own state directory and ports: up is idempotent, a taken port
is named in the error, and down stops exactly what up started — nothing else."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings, StackSettings
from wafsiem.stack import service

LIGHT_PARTS = ["s3", "sqs", "waf"]  # OpenSearch is covered by the session's own stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(
        state_dir=tmp_path / "state",
        stack=StackSettings(
            opensearch_port=_free_port(),
            opensearch_transport_port=_free_port(),
            s3_port=_free_port(),
            sqs_port=_free_port(),
            waf_port=_free_port(),
            start_timeout_seconds=120,
        ),
    )
    yield settings
    service.down(settings)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_up_is_idempotent_and_down_leaves_nothing(own_stack: Settings) -> None:
    messages: list[str] = []
    first = service.up(own_stack, messages.append, only=LIGHT_PARTS)
    assert [p.name for p in first.parts] == LIGHT_PARTS
    assert all(p.running for p in first.parts), first
    pids = {p.name: p.pid for p in first.parts}
    assert all(pids.values())

    second = service.up(own_stack, messages.append, only=LIGHT_PARTS)
    assert {p.name: p.pid for p in second.parts} == pids
    assert sum("already running" in m for m in messages) == len(LIGHT_PARTS)

    for part in first.parts:
        assert Path(part.log).exists()

    stopped = service.down(own_stack, only=LIGHT_PARTS)
    assert not any(p.running for p in stopped.parts)
    for pid in pids.values():
        assert pid is not None and not _alive(pid), f"pid {pid} still running after down"


def test_taken_port_is_named(own_stack: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own_stack.stack.sqs_port))
        squatter.listen()
        with pytest.raises(WafsiemError) as caught:
            service.up(own_stack, only=["sqs"])
    message = str(caught.value)
    assert "sqs" in message
    assert f"port 127.0.0.1:{own_stack.stack.sqs_port} is taken" in message
    assert not service.status(own_stack, only=["sqs"]).parts[0].running


def test_down_never_kills_a_stranger_with_a_recycled_pid(own_stack: Settings) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfile = own_stack.state_dir / "stack" / "waf.pid"
        pidfile.parent.mkdir(parents=True)
        # the pid is right but the start time is not: a pid the kernel handed on
        pidfile.write_text(json.dumps({"pid": stranger.pid, "start_time": "1"}))
        status = service.down(own_stack, only=["waf"])
        assert not status.parts[0].running
        assert stranger.poll() is None, "down killed a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()


def test_unknown_part_is_refused(own_stack: Settings) -> None:
    with pytest.raises(WafsiemError, match="unknown stack part"):
        service.up(own_stack, only=["redis"])


def test_missing_java_is_reported(own_stack: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(WafsiemError, match="Java is missing") as caught:
        service.up(own_stack, only=["sqs"])
    assert "sqs" not in [p.name for p in service.status(own_stack).parts if p.running]
    assert "openjdk" in str(caught.value).lower()
    assert os.environ["PATH"] == "/nonexistent"


def test_unresolvable_artifact_names_part_and_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wafsiem.stack import artifacts

    real_pom = artifacts.POM.read_text()
    bad_pom = tmp_path / "pom.xml"
    bad_pom.write_text(
        real_pom.replace("<elasticmq.version>", "<elasticmq.version>0.0.0-does-not-exist")
    )
    monkeypatch.setattr(artifacts, "POM", bad_pom)
    with pytest.raises(WafsiemError) as caught:
        artifacts.resolve(tmp_path / "cache", "elasticmq", tmp_path / "logs")
    message = str(caught.value)
    assert message.startswith("elasticmq: the Maven artifact could not be resolved")
    log = tmp_path / "logs" / "maven-elasticmq.log"
    assert str(log) in message
    assert "0.0.0-does-not-exist" in log.read_text()
    assert not artifacts.is_resolved(tmp_path / "cache", "elasticmq")
