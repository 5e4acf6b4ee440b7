"""Writing a web ACL safely: read, edit, UpdateWebACL with the LockToken, retry on
``WAFOptimisticLockException`` with jittered backoff, at most one update per interval
per (account, region), then read back to verify.

An UpdateWebACL whose outcome is unknown is never reported as a failure: a timeout or
a dropped connection after the request was sent may have been applied, and so may an
earlier try that botocore retried on its own (its ``RetryAttempts``) before the lock
conflict that try's success causes. :class:`WriteOutcome` then says ``uncertain`` and
why, so the caller records the override as applied-but-unverified, to be settled by
reading the web ACL again (``OverrideService.reconcile``)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
)

from rules_admin.webacl import Change, WebAclRef
from rules_admin.webacl_model import update_spec, watch_unmodelled
from wafsiem.errors import WafsiemError

LOCK_ERROR = "WAFOptimisticLockException"
NOT_FOUND = "WAFNonexistentItemException"
MAX_BACKOFF_SECONDS = 5.0


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


class UpdateRateLimiter:
    """At most one call per ``min_interval`` seconds per key (account, region).

    Thread-safe; a slot is reserved under the lock and slept for outside it, so callers
    for different keys never wait on each other.
    """

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str], float] = {}

    def wait(self, key: tuple[str, str]) -> float:
        """Block until ``key`` may make its next call; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + self.min_interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


class LockExhausted(WafsiemError):
    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"web ACL kept changing under us: {attempts} UpdateWebACL attempts met "
            "WAFOptimisticLockException",
            hint="retry later, or look for an automation editing the web ACL",
            status=409,
        )
        self.attempts = attempts


class AwsFailure(WafsiemError):
    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message, status=status)


def retried(exc: ClientError) -> bool:
    """botocore sent this call more than once (an earlier try timed out or failed)."""
    meta: dict[str, Any] = dict(exc.response.get("ResponseMetadata") or {})
    return int(meta.get("RetryAttempts") or 0) > 0


def get_webacl(client: Any, ref: WebAclRef) -> dict[str, Any]:
    """GetWebACL; 404 when the ACL does not exist, 502 for any other AWS failure. The
    answer names any raw field botocore's model dropped (see :mod:`webacl_model`)."""
    watch_unmodelled(client)
    try:
        response: dict[str, Any] = client.get_web_acl(Name=ref.name, Scope=ref.scope, Id=ref.id)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            raise AwsFailure(f"web ACL {ref.arn} does not exist", status=404) from exc
        raise AwsFailure(f"GetWebACL {ref.arn} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise AwsFailure(f"GetWebACL {ref.arn} failed: {exc}") from exc
    response.pop("ResponseMetadata", None)
    return response


@dataclass
class WriteOutcome:
    change: Change  # as computed from the last read (the one whose LockToken won)
    lock_token: str
    next_lock_token: str | None
    attempts: int
    written: bool
    uncertain: str | None = None  # why we cannot tell whether AWS applied it


@dataclass
class WebAclWriter:
    limiter: UpdateRateLimiter
    lock_retries: int
    backoff_seconds: float
    sleep: Callable[[float], None] = time.sleep

    def _backoff(self, attempt: int) -> None:
        base = self.backoff_seconds * (2 ** (attempt - 1))
        self.sleep(min(MAX_BACKOFF_SECONDS, base * secrets.SystemRandom().uniform(0.5, 1.5)))

    def write(
        self,
        client: Any,
        ref: WebAclRef,
        response: dict[str, Any],
        compute: Callable[[dict[str, Any]], Change],
    ) -> WriteOutcome:
        """Apply ``compute`` (WebACL → Change) and UpdateWebACL; on a lock conflict read
        again, recompute on the fresh ACL and retry. ``response`` is the first read."""
        attempt = 0
        sent: Change | None = None  # the change of a try that may have been applied
        while True:
            attempt += 1
            token = response["LockToken"]
            try:
                change = compute(response["WebACL"])
                spec = update_spec(response, ref.scope, change.rules) if change.changed else {}
            except Exception as exc:
                if sent is None:
                    raise
                why = f"an earlier try may have applied it; then {type(exc).__name__}: {exc}"
                return WriteOutcome(sent, token, None, attempt, True, uncertain=why)
            if not change.changed:
                if sent is not None:  # our own earlier try is the likeliest writer
                    why = "an UpdateWebACL try botocore retried may have applied it"
                    return WriteOutcome(sent, token, None, attempt, True, uncertain=why)
                return WriteOutcome(change, token, None, attempt, written=False)
            self.limiter.wait((ref.account, ref.region))
            try:
                result = client.update_web_acl(**spec)
            except ClientError as exc:
                if retried(exc):
                    sent = change
                if error_code(exc) != LOCK_ERROR:
                    if sent is not None:
                        why = f"UpdateWebACL was retried and then failed ({exc})"
                        return WriteOutcome(sent, token, None, attempt, True, uncertain=why)
                    raise AwsFailure(f"UpdateWebACL {ref.arn} failed: {exc}") from exc
                if attempt >= self.lock_retries:
                    if sent is not None:
                        why = f"lock retries exhausted after a retried try ({exc})"
                        return WriteOutcome(sent, token, None, attempt, True, uncertain=why)
                    raise LockExhausted(attempt) from exc
                self._backoff(attempt)
                try:
                    response = get_webacl(client, ref)
                except AwsFailure as failure:
                    if sent is None:
                        raise
                    why = f"an earlier try may have applied it; then {failure.message}"
                    return WriteOutcome(sent, token, None, attempt, True, uncertain=why)
                continue
            except ParamValidationError as exc:  # refused before anything was sent
                raise AwsFailure(f"UpdateWebACL {ref.arn} refused: {exc}", status=422) from exc
            except NoCredentialsError as exc:  # raised before anything was sent
                if sent is not None:
                    why = f"an earlier try may have applied it; then {exc}"
                    return WriteOutcome(sent, token, None, attempt, True, uncertain=why)
                raise AwsFailure(f"UpdateWebACL {ref.arn}: {exc}") from exc
            except BotoCoreError as exc:  # sent, maybe applied: a timeout, a lost answer
                why = f"UpdateWebACL {ref.arn} gave no answer: {exc}"
                return WriteOutcome(change, token, None, attempt, True, uncertain=why)
            return WriteOutcome(change, token, result.get("NextLockToken"), attempt, written=True)
