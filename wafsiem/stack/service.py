"""Start, stop and inspect the local stack's processes.

Each part runs in its own session (process group) with its log and a pid file in
``<state_dir>/stack``. The pid file records the process start time as well as its pid, so
``down`` stops exactly the processes ``up`` started — never a stranger that reused a pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings
from wafsiem.stack import artifacts
from wafsiem.stack.parts import HOST, Part, all_parts

Notify = Callable[[str], None]


class PartStatus(BaseModel):
    name: str
    url: str
    running: bool
    pid: int | None = None
    answers: str | None = None
    log: str
    note: str | None = None


class StackStatus(BaseModel):
    parts: list[PartStatus]

    @property
    def all_running(self) -> bool:
        return all(p.running for p in self.parts)


@dataclass(frozen=True)
class PartFiles:
    workdir: Path
    pidfile: Path
    log: Path


def part_files(settings: Settings, part: Part) -> PartFiles:
    base = settings.state_dir / "stack"
    return PartFiles(base / part.name, base / f"{part.name}.pid", base / f"{part.name}.log")


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; it is enclosed in parentheses
    fields = stat[stat.rindex(")") + 2 :].split()
    state = fields[0]
    if state in ("Z", "X"):  # zombie or dead: not running
        return None
    return fields[19]


def _read_pidfile(files: PartFiles) -> int | None:
    """The recorded pid when that very process is still alive, else None."""
    try:
        record = json.loads(files.pidfile.read_text())
    except (OSError, ValueError):
        return None
    pid = int(record.get("pid", 0))
    if pid > 0 and _start_time(pid) == record.get("start_time"):
        return pid
    return None


def _port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def _probe(part: Part, settings: Settings) -> str | None:
    try:
        return part.probe(settings)
    except (OSError, ValueError, KeyError):
        return None


def select_parts(settings: Settings, only: list[str] | None = None) -> list[Part]:
    """Every part, or just the named ones (``--only s3,sqs``)."""
    parts = all_parts(settings)
    if not only:
        return parts
    known = {p.name for p in parts}
    unknown = sorted(set(only) - known)
    if unknown:
        raise WafsiemError(
            f"unknown stack part(s): {', '.join(unknown)}",
            hint=f"parts are: {', '.join(sorted(known))}",
        )
    return [p for p in parts if p.name in only]


def status(settings: Settings, only: list[str] | None = None) -> StackStatus:
    result = []
    for part in select_parts(settings, only):
        files = part_files(settings, part)
        pid = _read_pidfile(files)
        answers = _probe(part, settings) if pid else None
        note = None
        if pid is None and _port_answers(part.port):
            note = f"port {part.port} answers, but not from a process of this stack"
        result.append(
            PartStatus(
                name=part.name,
                url=part.url,
                running=pid is not None and answers is not None,
                pid=pid,
                answers=answers,
                log=str(files.log),
                note=note,
            )
        )
    return StackStatus(parts=result)


def fetch(settings: Settings, notify: Notify = lambda _m: None) -> list[Path]:
    """Resolve every pinned artifact into the cache (what CI does before `up`)."""
    paths = []
    for profile in artifacts.PROFILES:
        if not artifacts.is_resolved(settings.cache_dir, profile):
            notify(f"resolving {profile} with Maven")
        paths.append(artifacts.resolve(settings.cache_dir, profile, settings.state_dir / "stack"))
    return paths


def _launch(settings: Settings, part: Part) -> int:
    files = part_files(settings, part)
    files.workdir.mkdir(parents=True, exist_ok=True)
    launch = part.prepare(settings, files.workdir)
    with files.log.open("ab") as log:
        log.write(f"\n--- wafsiem stack: starting {part.name} at {time.time():.0f}\n".encode())
        log.flush()
        process = subprocess.Popen(  # noqa: S603 (argv built from our own settings)
            launch.argv,
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=launch.user,
            group=launch.group,
            extra_groups=[] if launch.user is not None else None,
        )
    start_time = None
    for _ in range(50):
        start_time = _start_time(process.pid)
        if start_time:
            break
        time.sleep(0.01)
    files.pidfile.write_text(
        json.dumps({"pid": process.pid, "start_time": start_time, "argv": launch.argv})
    )
    return process.pid


def _stop_pid(pid: int, grace_seconds: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if _start_time(pid) is None:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # the group may hold children (a launcher script's java): make sure none survive
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def up(
    settings: Settings, notify: Notify = lambda _m: None, only: list[str] | None = None
) -> StackStatus:
    """Start every part that is not running, then wait until each answers. Idempotent."""
    parts = select_parts(settings, only)
    to_start: list[Part] = []
    for part in parts:
        files = part_files(settings, part)
        if _read_pidfile(files) is not None:
            notify(f"{part.name}: already running")
            continue
        ports = [part.port]
        if part.name == "opensearch":
            ports.append(settings.stack.opensearch_transport_port)
        for port in ports:
            if _port_answers(port):
                raise WafsiemError(
                    f"{part.name}: port {HOST}:{port} is taken by another process",
                    hint=f"stop that process or choose another port "
                    f"(WAFSIEM_STACK__{part.name.upper()}_PORT); log: {files.log}",
                )
        to_start.append(part)

    for part in to_start:
        if part.profile is not None:
            artifacts.resolve(settings.cache_dir, part.profile, settings.state_dir / "stack")

    started: dict[str, int] = {}
    try:
        for part in to_start:
            notify(f"{part.name}: starting on {part.url}")
            started[part.name] = _launch(settings, part)
        for part in to_start:
            _wait_ready(settings, part, started[part.name], notify)
    except BaseException:
        for name, pid in started.items():
            _stop_pid(pid, grace_seconds=5)
            part_files(settings, next(p for p in parts if p.name == name)).pidfile.unlink(
                missing_ok=True
            )
        raise
    return status(settings, only)


def _wait_ready(settings: Settings, part: Part, pid: int, notify: Notify) -> None:
    files = part_files(settings, part)
    deadline = time.monotonic() + settings.stack.start_timeout_seconds
    while time.monotonic() < deadline:
        answer = _probe(part, settings)
        if answer:
            notify(f"{part.name}: ready ({answer})")
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if _start_time(pid) is None:
            raise WafsiemError(
                f"{part.name}: the process exited during start-up\n{_log_tail(files.log)}",
                hint=f"full log: {files.log}",
            )
        time.sleep(0.5)
    raise WafsiemError(
        f"{part.name}: not ready after {settings.stack.start_timeout_seconds:.0f}s\n"
        f"{_log_tail(files.log)}",
        hint=f"full log: {files.log}",
    )


def down(
    settings: Settings, notify: Notify = lambda _m: None, only: list[str] | None = None
) -> StackStatus:
    """Stop exactly the processes `up` started (by pid and start time) and nothing else."""
    for part in select_parts(settings, only):
        files = part_files(settings, part)
        pid = _read_pidfile(files)
        if pid is None:
            notify(f"{part.name}: not running")
        else:
            notify(f"{part.name}: stopping pid {pid}")
            _stop_pid(pid)
        files.pidfile.unlink(missing_ok=True)
    return status(settings, only)
