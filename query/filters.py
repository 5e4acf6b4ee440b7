"""The one filter model of wafsiem: the same words in the CLI, the API and the detector.

A :class:`Filter` holds already-validated values: times are timezone-aware UTC, client
addresses are ``ipaddress`` networks, every value list is OR-ed and the fields are
AND-ed. Both translators (:mod:`query.dsl`, :mod:`query.sql`) read only this model, so a
value can never be anything but a literal by the time it reaches them.

Build one with :func:`build_filter` from raw strings (CLI flags, query parameters); it
raises :class:`FilterError` (HTTP 422) saying which filter was wrong and why.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from wafsiem.errors import WafsiemError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# filter word -> the schema field(s) it matches
FILTER_FIELDS: dict[str, tuple[str, ...]] = {
    "action": ("waf.action",),
    "webacl": ("waf.webacl.arn", "waf.webacl.name"),
    "rule": ("waf.terminating_rule.id", "waf.terminating_rule.group_rule"),
    "client_ip": ("source.ip",),
    "country": ("source.geo.country_iso_code",),
    "host": ("url.domain",),
    "path_prefix": ("url.path",),
    "label": ("waf.labels",),
    "method": ("http.request.method",),
    "ja4": ("tls.client.ja4",),
}
FILTER_WORDS = ("from", "to", *FILTER_FIELDS)
# words that are exact matches on one single-valued keyword field
KEYWORD_WORDS = ("action", "country", "host", "method", "ja4")
MAX_VALUES = 100  # values per filter word
MAX_VALUE_LENGTH = 8192
# OpenSearch refuses a prefix query longer than this (Lucene: "input automaton is too big")
MAX_PREFIX_BYTES = 1000
DEFAULT_WINDOW = timedelta(hours=24)

# times a filter may name (Filter.days() must be able to step past the end)
_MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)

_RELATIVE = re.compile(r"^(?:now)?\s*-\s*(\d{1,6})\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class FilterError(WafsiemError):
    """A filter value that cannot be used: the message names the filter and the reason."""

    status = 422


@dataclass(frozen=True)
class RuleRef:
    """``Rule`` (terminating rule id or group rule) or ``Rule:SubRule`` (both must match)."""

    rule: str
    sub_rule: str | None = None


@dataclass(frozen=True)
class Filter:
    start: datetime  # inclusive
    end: datetime  # exclusive
    action: tuple[str, ...] = ()
    webacl: tuple[str, ...] = ()
    rule: tuple[RuleRef, ...] = ()
    client_ip: tuple[IPNetwork, ...] = ()
    country: tuple[str, ...] = ()
    host: tuple[str, ...] = ()
    path_prefix: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    ja4: tuple[str, ...] = ()

    def days(self) -> list[date]:
        """The UTC days the half-open range [start, end) touches."""
        last = (self.end - timedelta(milliseconds=1)).date()
        day, days = self.start.date(), []
        while day <= last:
            days.append(day)
            day += timedelta(days=1)
        return days

    def with_range(self, start: datetime, end: datetime) -> Filter:
        return replace(self, start=start, end=end)

    def describe(self) -> dict[str, object]:
        """JSON-friendly echo of the filter (for reports and API answers)."""
        out: dict[str, object] = {"from": iso(self.start), "to": iso(self.end)}
        for word in FILTER_FIELDS:
            values = getattr(self, word)
            if values:
                out[word] = [_describe_value(v) for v in values]
        return out


def _describe_value(value: object) -> str:
    if isinstance(value, RuleRef):
        return f"{value.rule}:{value.sub_rule}" if value.sub_rule else value.rule
    return str(value)


def iso(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` — the schema's timestamp format."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(value: str, *, now: datetime, word: str) -> datetime:
    """ISO 8601 (a naive time is UTC; a date is its midnight UTC), ``now`` or ``-24h``."""
    text = value.strip()
    if text.lower() == "now":
        return now
    relative = _RELATIVE.match(text.lower())
    try:
        if relative:
            amount, unit = int(relative.group(1)), relative.group(2)
            parsed = now - timedelta(**{_UNITS[unit]: amount})
        else:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
    except ValueError:
        raise FilterError(
            f"{word}: {value[:80]!r} is not a time",
            hint="use ISO 8601 (2026-11-20T10:00:00Z), a date, 'now' or a relative "
            "time such as -24h, -30m, -7d",
        ) from None
    except OverflowError:
        parsed = _MAX_TIME + timedelta(days=1)  # out of range: refused below
    if not _MIN_TIME <= parsed <= _MAX_TIME:
        raise FilterError(
            f"{word}: {value[:80]!r} is out of range",
            hint=f"times are between {iso(_MIN_TIME)} and {iso(_MAX_TIME)}",
        )
    return parsed


def parse_network(value: str) -> IPNetwork:
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
        mapped = net.network_address.ipv4_mapped if net.version == 6 else None
        if mapped is not None and net.prefixlen >= 96:
            # IPv4-mapped addresses are stored as IPv4 (and OpenSearch refuses a mapped CIDR)
            return ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
        return net
    except ValueError:
        raise FilterError(
            f"client_ip: {value[:80]!r} is not an IP address or CIDR",
            hint="e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32",
        ) from None


def _parse_rule(value: str) -> RuleRef:
    rule, sep, sub_rule = value.partition(":")
    if not rule or (sep and not sub_rule):
        raise FilterError(f"rule: {value[:80]!r} must be 'Rule' or 'Rule:SubRule'")
    return RuleRef(rule, sub_rule or None)


def _values(word: str, raw: object) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, str | list | tuple):
        raise FilterError(f"{word}: expected text, got {type(raw).__name__}")
    items = [raw] if isinstance(raw, str) else list(raw)
    values: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise FilterError(f"{word}: expected text, got {type(item).__name__}")
        if item == "":
            raise FilterError(f"{word}: empty value")
        if not item.isascii():
            try:
                item.encode("utf-8")  # lone surrogates (undecodable argv bytes) are not text
            except UnicodeEncodeError:
                raise FilterError(f"{word}: value is not valid UTF-8 text") from None
        if len(item) > MAX_VALUE_LENGTH:
            raise FilterError(f"{word}: value longer than {MAX_VALUE_LENGTH} characters")
        values.append(item)
    if len(values) > MAX_VALUES:
        raise FilterError(f"{word}: at most {MAX_VALUES} values")
    return values


def build_filter(
    raw: Mapping[str, object],
    *,
    now: datetime | None = None,
    max_range: timedelta | None = None,
    default_window: timedelta = DEFAULT_WINDOW,
) -> Filter:
    """Validate raw filter words (``{"from": "-24h", "client_ip": ["10.0.0.0/8"], ...}``)."""
    unknown = sorted(k for k, v in raw.items() if k not in FILTER_WORDS and v not in (None, []))
    if unknown:
        raise FilterError(
            f"unknown filter {unknown[0]!r}", hint=f"filters are: {', '.join(FILTER_WORDS)}"
        )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    to_raw, from_raw = raw.get("to"), raw.get("from")
    end = parse_time(str(to_raw), now=now, word="to") if to_raw else now
    start = parse_time(str(from_raw), now=now, word="from") if from_raw else end - default_window
    if end <= start:
        raise FilterError(f"to ({iso(end)}) must be after from ({iso(start)})")
    if max_range is not None and end - start > max_range:
        raise FilterError(
            f"from/to: the range {iso(start)} .. {iso(end)} is longer than the maximum "
            f"of {max_range.days} days",
            hint="narrow from/to, or raise query.max_range_days in the settings",
        )
    values = {word: _values(word, raw.get(word)) for word in FILTER_FIELDS}
    if any(len(v.encode("utf-8")) > MAX_PREFIX_BYTES for v in values["path_prefix"]):
        raise FilterError(f"path_prefix: value longer than {MAX_PREFIX_BYTES} bytes (UTF-8)")
    return Filter(
        start=start,
        end=end,
        action=tuple(dict.fromkeys(v.upper() for v in values["action"])),
        webacl=tuple(values["webacl"]),
        rule=tuple(_parse_rule(v) for v in values["rule"]),
        client_ip=tuple(parse_network(v) for v in values["client_ip"]),
        country=tuple(values["country"]),
        host=tuple(values["host"]),
        path_prefix=tuple(values["path_prefix"]),
        label=tuple(values["label"]),
        method=tuple(v.upper() for v in values["method"]),
        ja4=tuple(values["ja4"]),
    )


def filter_from_pairs(pairs: Iterable[tuple[str, str]], **kwargs: object) -> Filter:
    """A filter from repeated ``(word, value)`` pairs, such as a URL query string."""
    raw: dict[str, list[str]] = {}
    for key, value in pairs:
        raw.setdefault(key, []).append(value)
    words: dict[str, object] = {k: (v[-1] if k in ("from", "to") else v) for k, v in raw.items()}
    return build_filter(words, **kwargs)  # type: ignore[arg-type]
