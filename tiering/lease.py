"""A lease per day in the state index, so two tiering jobs never work on the same day.

Taken with ``op_type=create`` (only one creator wins); an expired lease is taken over with
``if_seq_no``/``if_primary_term`` so that of two jobs racing for it only one succeeds. The
holder renews it while it works and checks it is still its own before deleting anything.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError

from wafsiem.errors import WafsiemError
from wafsiem.state_index import ensure_state_index

DEFAULT_TTL_SECONDS = 900.0


class LeaseLost(WafsiemError):
    """Another job took the lease over (ours had expired): stop before changing anything."""


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One lease document ``lease:<name>`` in the state index."""

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        name: str,
        *,
        holder: str | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.client = client
        self.index = index
        self.name = name
        self.doc_id = f"lease:{name}"
        self.holder = holder or holder_id()
        self.ttl = ttl_seconds
        self._seq: tuple[int, int] | None = None
        self._renewed = 0.0
        self._lock = threading.Lock()

    def _body(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "kind": "lease",
            "source": self.name,
            "holder": self.holder,
            "expires": (now + timedelta(seconds=self.ttl)).isoformat(),
            "updated": now.isoformat(),
        }

    def _took(self, response: dict[str, Any]) -> bool:
        self._seq = (int(response["_seq_no"]), int(response["_primary_term"]))
        self._renewed = time.monotonic()
        return True

    def acquire(self) -> bool:
        """True when this job now holds the lease."""
        ensure_state_index(self.client, self.index)
        try:
            return self._took(
                self.client.index(
                    index=self.index, id=self.doc_id, body=self._body(), op_type="create"
                )
            )
        except ConflictError:
            pass
        current = self.client.get(index=self.index, id=self.doc_id, ignore=[404])
        if not current.get("found"):
            return self.acquire_once_more()
        expires = datetime.fromisoformat(current["_source"]["expires"])
        if expires > datetime.now(UTC):
            return False
        try:  # expired: take it over, unless someone else just did
            return self._took(
                self.client.index(
                    index=self.index,
                    id=self.doc_id,
                    body=self._body(),
                    if_seq_no=current["_seq_no"],
                    if_primary_term=current["_primary_term"],
                )
            )
        except ConflictError:
            return False

    def acquire_once_more(self) -> bool:
        try:
            return self._took(
                self.client.index(
                    index=self.index, id=self.doc_id, body=self._body(), op_type="create"
                )
            )
        except ConflictError:
            return False

    def renew(self) -> None:
        """Extend the lease; raises :class:`LeaseLost` when it is no longer ours."""
        with self._lock:
            if self._seq is None:
                raise LeaseLost(f"lease {self.name} is not held")
            seq_no, term = self._seq
            try:
                self._took(
                    self.client.index(
                        index=self.index,
                        id=self.doc_id,
                        body=self._body(),
                        if_seq_no=seq_no,
                        if_primary_term=term,
                    )
                )
            except (ConflictError, NotFoundError) as exc:
                self._seq = None
                raise LeaseLost(f"lease {self.name} was taken over by another job") from exc

    def heartbeat(self) -> None:
        """Renew when a third of the time to live has gone by (cheap to call often)."""
        if time.monotonic() - self._renewed > self.ttl / 3:
            self.renew()

    def release(self) -> None:
        with self._lock:
            if self._seq is None:
                return
            seq_no, term = self._seq
            self._seq = None
            with contextlib.suppress(ConflictError, NotFoundError):  # taken over or gone
                self.client.delete(
                    index=self.index, id=self.doc_id, if_seq_no=seq_no, if_primary_term=term
                )

    @property
    def held(self) -> bool:
        return self._seq is not None
