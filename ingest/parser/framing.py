"""Bytes -> candidate records, streaming.

Two layers:

* :func:`decoded_chunks` turns raw chunks into decoded chunks. Gzip is detected by its
  magic bytes (never by file name); multi-member gzip is read member after member;
  output is produced in bounded pieces, so a large object never sits in memory whole. A
  stream that ends inside a member, or is corrupt, is reported as truncated and every
  byte decoded before the cut is still returned.
* :class:`RecordFramer` cuts decoded bytes into JSON values: NDJSON, objects concatenated
  with no delimiter (Kinesis Data Firehose), pretty-printed objects, and any mix.

Framing rules, in order, for a value starting with ``{`` at offset *p*:

1. the line from *p* parses on its own (the NDJSON fast path);
2. else the record ends at the first ``}<whitespace>{`` boundary whose prefix parses
   (in valid JSON ``}`` followed by ``{`` only occurs between top-level values or inside
   a string);
3. a ``{`` at the start of a line (column 0) always starts a new record, so a broken
   record costs at most the bytes up to the next such line; in a stream without
   newlines a boundary whose following piece parses on its own resynchronises instead.

Anything else (a line not starting with ``{``) is one candidate per line. Offsets are
positions in the decoded stream.

A record longer than ``max_record_bytes`` (default 1 MiB, far above any WAF record) is
*oversized*: the framer yields its first ``prefix_bytes`` with an :class:`Oversized`
value (its size and the SHA-256 of all its bytes) and never holds it whole — past the
limit it streams the record through the hash and drops it, so the framer's buffer stays
under ``max_record_bytes`` plus one chunk whatever the input. An oversized line ends at
its newline; an oversized ``{`` record at the first newline followed by something that
could not continue a pretty-printed value (as rule 3), or at the end of the stream. Its
size and hash cover the bytes from its offset up to that newline. Limit: in a stream
without newlines, the records concatenated after an oversized one belong to it.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ingest.parser.models import ParseStats

GZIP_MAGIC: Final = b"\x1f\x8b"
UTF8_BOM: Final = b"\xef\xbb\xbf"
DEFAULT_MAX_RECORD_BYTES: Final = 1 << 20
DEFAULT_PREFIX_BYTES: Final = 64 << 10


class _NotParsed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_PARSED"


NOT_PARSED: Final = _NotParsed()


@dataclass(frozen=True, slots=True)
class Oversized:
    """The value of the frame of a record longer than the framer's limit; the frame's
    raw bytes are only its first bytes."""

    size: int  # bytes of the whole record
    sha256: str  # hex SHA-256 of the whole record


# (offset in the decoded stream, raw bytes, parsed JSON value or NOT_PARSED, or the
# tuple the framer's ``prebuild`` hook gave for it: JSON never loads as a tuple, or an
# Oversized with the record's first bytes as raw bytes)
Frame = tuple[int, bytes, Any]
Prebuild = Callable[[bytes], tuple[Any, ...] | None]

_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*\{")
_VALUE_END = re.compile(rb"\n[^ \t\r\n}\]]")  # a line that cannot continue a value
_LINE_END = re.compile(rb"\n")
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def decoded_chunks(
    chunks: Iterable[bytes], stats: ParseStats, piece_size: int = 1 << 20
) -> Iterator[bytes]:
    """Decoded bytes of a plain or gzip stream (see module doc); updates ``stats``."""
    source = iter(chunks)
    head = b""
    for chunk in source:
        stats.bytes_read += len(chunk)
        head += chunk
        if len(head) >= 2:
            break
    if not head.startswith(GZIP_MAGIC):
        if head:
            yield head
        for chunk in source:
            stats.bytes_read += len(chunk)
            if chunk:
                yield chunk
        return
    stats.compressed = True
    yield from _gunzip(head, source, stats, piece_size)


def _gunzip(
    head: bytes, source: Iterator[bytes], stats: ParseStats, piece_size: int
) -> Iterator[bytes]:
    decompressor: Any = None  # zlib's Decompress type is not importable for annotations
    pending = head
    in_member = False
    while True:
        while pending:
            if decompressor is None:
                if not pending.strip(b"\x00"):  # NUL padding after the last member
                    pending = b""
                    break
                decompressor = zlib.decompressobj(wbits=31)
                in_member = True
            try:
                out = decompressor.decompress(pending, piece_size)
            except zlib.error as exc:
                stats.truncated = True
                stats.truncated_detail = f"corrupt gzip data: {exc}"
                return
            if out:
                yield out
            if decompressor.eof:
                pending = decompressor.unused_data
                decompressor = None
                in_member = False
            else:
                pending = decompressor.unconsumed_tail
        chunk = next(source, None)
        if chunk is None:
            break
        stats.bytes_read += len(chunk)
        pending = chunk
    if in_member and decompressor is not None:
        tail = decompressor.flush()
        if tail:
            yield tail
        stats.truncated = True
        stats.truncated_detail = "gzip stream ended inside a member"


class RecordFramer:
    """Cuts a decoded byte stream into candidate records (:data:`Frame` tuples).

    ``prebuild``: tried once on each record: on an NDJSON line before it is parsed, on a
    record framed otherwise once it parsed as an object. A tuple it returns (it accepts
    only valid JSON) is yielded in place of the parsed value; ``None`` leaves the value
    as parsed. The parser passes the native fast path here, so a line it handles is never
    parsed twice, and a record it declines is not offered to it again.
    """

    def __init__(
        self,
        prebuild: Prebuild | None = None,
        *,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        prefix_bytes: int = DEFAULT_PREFIX_BYTES,
    ) -> None:
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be positive")
        self._prebuild = prebuild
        self._buffer = b""
        self._base = 0  # stream offset of self._buffer[0]
        self._started = False
        self.max_record_bytes = max_record_bytes
        self.prefix_bytes = min(prefix_bytes, max_record_bytes)
        self._skipping: _Skipping | None = None  # an oversized record being dropped

    def feed(self, data: bytes) -> list[Frame]:
        return list(self.iter_feed(data))

    def finish(self) -> list[Frame]:
        """The frames left once the stream has ended (the last one may be cut short)."""
        return list(self.iter_finish())

    def iter_feed(self, data: bytes) -> Iterator[Frame]:
        """Like :meth:`feed`, one frame at a time: a caller that handles each record
        before asking for the next keeps few parsed values alive (cheap garbage
        collection). Exhaust it before feeding more."""
        if not self._started:
            self._started = True
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM) :]
                self._base = len(UTF8_BOM)
        self._buffer = self._buffer + data if self._buffer else data
        return self._drain(final=False)

    def iter_finish(self) -> Iterator[Frame]:
        return self._drain(final=True)

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def _drain(self, final: bool) -> Iterator[Frame]:
        buf = self._buffer
        size = len(buf)
        base = self._base
        pos = 0
        find = buf.find
        prebuild = self._prebuild
        most = self.max_record_bytes
        try:
            if self._skipping is not None:
                pos, frame = self._skip(buf, final)
                if frame is None:
                    return
                yield frame
            while True:
                if pos < size and buf[pos] == 0x7B:  # "{": the NDJSON fast path
                    newline = find(b"\n", pos, pos + most + 1)  # a line within the limit
                    if newline != -1:
                        line = buf[pos:newline]
                        if prebuild is not None:
                            built = prebuild(line)
                            if built is not None:
                                start = pos
                                pos = newline + 1
                                yield base + start, line, built
                                continue
                        try:
                            value = _loads(line)
                        except _JSONDecodeError:
                            pass
                        else:
                            start = pos
                            pos = newline + 1
                            yield base + start, line, value
                            continue
                else:
                    pos = _WHITESPACE.match(buf, pos).end()  # type: ignore[union-attr]
                    if pos >= size:
                        break
                    if buf[pos] != 0x7B:  # not "{": one candidate per line
                        newline = find(b"\n", pos)
                        if newline == -1:
                            if size - pos > most:
                                pos, frame = self._oversized(buf, pos, final, _LINE_END)
                                if frame is None:
                                    break
                                yield frame
                                continue
                            if not final:
                                break
                            newline = size
                        elif newline - pos > most:
                            frame = self._oversized_frame(base + pos, buf[pos:newline])
                            pos = newline
                            yield frame
                            continue
                        frame = _frame(base + pos, buf[pos:newline].rstrip())
                        pos = newline
                        yield frame
                        continue
                    continue
                limit = find(b"\n{", pos)
                complete = limit != -1 or final
                region_end = limit if limit != -1 else size
                if region_end - pos > most:  # the record must end within the limit
                    window = pos + most + 1
                    cut = _first_record_end(buf, pos, window, False)
                    if cut is None:
                        end = _broken_record_end(buf, pos, window)
                        if end >= window:
                            pos, frame = self._oversized(buf, pos, final, _VALUE_END)
                            if frame is None:
                                break
                            yield frame
                            continue
                        cut = end, NOT_PARSED
                    end, value = cut
                    start = pos
                    pos = end
                    raw = buf[start:end]
                    if value is NOT_PARSED:
                        raw = raw.rstrip()
                        value = _frame(base + start, raw)[2]
                    yield _prebuilt(base + start, raw, value, prebuild)
                    continue
                cut = _first_record_end(buf, pos, region_end, complete)
                if cut is not None:
                    end, value = cut
                    start = pos
                    pos = end
                    yield _prebuilt(base + start, buf[start:end], value, prebuild)
                    continue
                if not complete:
                    break
                end = _broken_record_end(buf, pos, region_end)
                start = pos
                pos = end
                frame = _frame(base + start, buf[start:end].rstrip())
                yield _prebuilt(*frame, prebuild)
        finally:
            self._buffer = buf[pos:]
            self._base = base + pos

    # -- oversized records -------------------------------------------------------------

    def _oversized_frame(self, offset: int, record: bytes) -> Frame:
        digest = hashlib.sha256(record).hexdigest()
        return offset, record[: self.prefix_bytes], Oversized(len(record), digest)

    def _oversized(
        self, buf: bytes, pos: int, final: bool, end_pattern: re.Pattern[bytes]
    ) -> tuple[int, Frame | None]:
        """An oversized record starts at ``pos``: its frame when it ends in ``buf``, else
        start dropping it (``None``; the caller stops, every byte of ``buf`` consumed)."""
        match = end_pattern.search(buf, pos + self.max_record_bytes)
        if match is not None:
            end = match.start()
            return end, self._oversized_frame(self._base + pos, buf[pos:end])
        if final:
            return len(buf), self._oversized_frame(self._base + pos, buf[pos:])
        skipping = _Skipping(self._base + pos, buf[pos : pos + self.prefix_bytes], end_pattern)
        self._skipping = skipping
        return skipping.take(buf, pos), None

    def _skip(self, buf: bytes, final: bool) -> tuple[int, Frame | None]:
        """Go on dropping the oversized record: (position after it, its frame) once it
        ends; else every byte consumed but a final newline (whose next byte decides)."""
        skipping = self._skipping
        assert skipping is not None  # only called while skipping
        match = skipping.end_pattern.search(buf)
        if match is None and not final:
            return skipping.take(buf, 0), None
        end = len(buf) if match is None else match.start()
        skipping.hasher.update(buf[:end])
        skipping.size += end
        self._skipping = None
        frame = (
            skipping.offset,
            skipping.prefix,
            Oversized(skipping.size, skipping.hasher.hexdigest()),
        )
        return end, frame


class _Skipping:
    """An oversized record being hashed and dropped."""

    __slots__ = ("end_pattern", "hasher", "offset", "prefix", "size")

    def __init__(self, offset: int, prefix: bytes, end_pattern: re.Pattern[bytes]) -> None:
        self.offset = offset
        self.prefix = prefix
        self.end_pattern = end_pattern
        self.hasher = hashlib.sha256()
        self.size = 0

    def take(self, buf: bytes, pos: int) -> int:
        """Hash ``buf[pos:]`` but a final newline; where the framer's buffer restarts."""
        end = len(buf)
        if self.end_pattern is _VALUE_END and buf.endswith(b"\n"):
            end -= 1
        self.hasher.update(memoryview(buf)[pos:end])
        self.size += end - pos
        return end


_CONTINUATION = frozenset(b" \t\r\n}]")


def _broken_record_end(buf: bytes, pos: int, region_end: int) -> int:
    """Where a record that does not parse ends: at the first line that could not continue a
    pretty-printed value (it starts at column 0 with something other than ``}`` or ``]``),
    so a broken NDJSON line never swallows the valid lines after it."""
    newline = buf.find(b"\n", pos, region_end)
    while newline != -1 and newline + 1 < region_end:
        if buf[newline + 1] not in _CONTINUATION:
            return newline
        newline = buf.find(b"\n", newline + 1, region_end)
    return region_end


def _first_record_end(
    buf: bytes, pos: int, region_end: int, complete: bool
) -> tuple[int, Any] | None:
    """End of the record starting at ``pos`` within ``buf[pos:region_end]``, by boundaries.

    Returns ``(end, value)``; ``value`` is NOT_PARSED when a later boundary proves the
    bytes before it are a broken record (the piece after it parses as a WAF record).
    """
    match = _BOUNDARY.search(buf, pos, region_end)
    while match is not None:
        end = match.start() + 1
        try:
            return end, _loads(buf[pos:end])
        except _JSONDecodeError:
            pass
        if _record_starts_at(buf, match.end() - 1, region_end, complete):
            return end, NOT_PARSED
        match = _BOUNDARY.search(buf, end, region_end)
    return None


_RESYNC_TRIES = 8


def _record_starts_at(buf: bytes, start: int, region_end: int, complete: bool) -> bool:
    """Whether a whole WAF-looking record (an object with a timestamp) starts at ``start``."""
    match = _BOUNDARY.search(buf, start, region_end)
    for _ in range(_RESYNC_TRIES):
        end = (region_end if complete else -1) if match is None else match.start() + 1
        if end == -1:
            return False
        try:
            value = _loads(buf[start:end])
            return isinstance(value, dict) and "timestamp" in value
        except _JSONDecodeError:
            pass
        if match is None:
            return False
        match = _BOUNDARY.search(buf, end, region_end)
    return False


def _prebuilt(offset: int, raw: bytes, value: Any, prebuild: Prebuild | None) -> Frame:
    """The frame, with ``prebuild``'s result in place of a parsed object it handles."""
    if prebuild is not None and value.__class__ is dict:
        value = prebuild(raw) or value
    return offset, raw, value


def _frame(offset: int, raw: bytes) -> Frame:
    try:
        return offset, raw, _loads(raw)
    except _JSONDecodeError:
        return offset, raw, NOT_PARSED
