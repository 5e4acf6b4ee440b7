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
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import orjson

from ingest.parser.models import ParseStats

GZIP_MAGIC: Final = b"\x1f\x8b"
UTF8_BOM: Final = b"\xef\xbb\xbf"


class _NotParsed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_PARSED"


NOT_PARSED: Final = _NotParsed()

# (offset in the decoded stream, raw bytes, parsed JSON value or NOT_PARSED, or the
# tuple the framer's ``prebuild`` hook gave for it: JSON never loads as a tuple)
Frame = tuple[int, bytes, Any]
Prebuild = Callable[[bytes], tuple[Any, ...] | None]

_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*\{")
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

    def __init__(self, prebuild: Prebuild | None = None) -> None:
        self._prebuild = prebuild
        self._buffer = b""
        self._base = 0  # stream offset of self._buffer[0]
        self._started = False

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
        try:
            while True:
                if pos < size and buf[pos] == 0x7B:  # "{": the NDJSON fast path
                    newline = find(b"\n", pos)
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
                            if not final:
                                break
                            newline = size
                        frame = _frame(base + pos, buf[pos:newline].rstrip())
                        pos = newline
                        yield frame
                        continue
                    continue
                limit = find(b"\n{", pos)
                complete = limit != -1 or final
                region_end = limit if limit != -1 else size
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
