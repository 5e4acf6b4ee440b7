"""The HTTP API (``rules_admin.app.create_app``) under uvicorn in a background thread.

The demo posts today's traffic to its ``POST /firehose`` over real HTTP, and afterwards
keeps it serving for people. The socket is bound before the thread starts, so a taken
port is an error at once and ``port=0`` picks a free one.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings

START_TIMEOUT_SECONDS = 60.0


class ApiServer:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        import uvicorn

        from rules_admin.app import create_app

        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise WafsiemError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="choose another port with --port (0 picks a free one)",
            ) from exc
        self.host, self.port = host, int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="demo-api", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive():
                raise WafsiemError(f"the API server on {self.url} stopped during start-up")
            if time.monotonic() > deadline:
                raise WafsiemError(f"the API server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        self.sock.close()

    def wait(self) -> None:
        """Block until the server stops: Ctrl-C (SIGINT) or SIGTERM stop it gracefully."""

        def exit_soon(signum: int, frame: object) -> None:
            self.server.should_exit = True

        previous = signal.signal(signal.SIGTERM, exit_soon)
        try:
            while self.thread.is_alive():
                self.thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            signal.signal(signal.SIGTERM, previous)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path)  # noqa: S310 (our own http URL)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), response.read()

    def ingest_counters(self, kind: str, token: str | None = None) -> dict[str, int]:
        """``read``, ``indexed``, ``duplicate``, ``dead_lettered`` for ``kind`` from
        GET /metrics (zero when absent); ``token``: a read key (/metrics needs one)."""
        _, body = self.get("/metrics", token)
        wanted = {f"wafsiem_ingest_records_{n}": n for n in ("read", "indexed", "duplicate")}
        wanted["wafsiem_ingest_records_dead_lettered"] = "dead_lettered"
        out = dict.fromkeys(wanted.values(), 0)
        for family in text_string_to_metric_families(body.decode()):
            name = wanted.get(family.name)
            if name is None:
                continue
            for sample in family.samples:
                labels: dict[str, Any] = sample.labels
                if sample.name.endswith("_total") and labels.get("kind") == kind:
                    out[name] += int(sample.value)
        return out
