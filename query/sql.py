"""Filter -> a parameterised DuckDB ``WHERE`` clause over the cold view.

The SQL text is built only from constants of this module and column names from the
schema; every user value is a ``?`` parameter. The answers match :mod:`query.dsl` exactly:

- ``path_prefix`` is a byte-wise ``starts_with`` (Lucene's prefix on a keyword);
- ``label`` is list membership (a keyword array matches when any element does);
- ``client_ip`` compares addresses as numbers, as OpenSearch's ``ip`` field does: IPv4
  as a 32-bit number computed in SQL, IPv6 (including IPv4-mapped ``::ffff:a.b.c.d``)
  as a fixed-width 128-bit hex string from the :func:`register_functions` UDF, so an
  IPv4 CIDR also matches IPv4-mapped IPv6 documents, and ``::ffff:0:0/96`` IPv4 ones.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from query.filters import FILTER_FIELDS, KEYWORD_WORDS, Filter, IPNetwork, RuleRef

IP_HEX_FUNCTION = "wafsiem_ip_hex"
_V4_MAPPED = int(ipaddress.IPv6Address("::ffff:0.0.0.0"))
_V4_SPAN = 1 << 32
_COLUMN = re.compile(r"^[@A-Za-z_][A-Za-z0-9_.]*$")


def col(name: str) -> str:
    """A quoted column identifier; only schema names (checked, never user text) pass."""
    if not _COLUMN.match(name):
        raise ValueError(f"not a column name: {name!r}")
    return f'"{name}"'


_IP = col("source.ip")
_V4_NUMBER = " + ".join(
    f"TRY_CAST(split_part({_IP}, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}" for i in range(4)
)


def ip_hex(value: str | None) -> str | None:
    """The 128-bit number of an address as 32 hex digits (IPv4 as IPv4-mapped IPv6)."""
    if value is None:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    number = int(address) + (_V4_MAPPED if address.version == 4 else 0)
    return f"{number:032x}"


def register_functions(con: Any) -> None:
    """Add the UDFs the translated SQL uses to a DuckDB connection."""
    import pyarrow as pa
    from duckdb.sqltypes import VARCHAR

    def ip_hex_arrow(values: Any) -> Any:
        return pa.array([ip_hex(v) for v in values.to_pylist()], pa.string())

    con.create_function(IP_HEX_FUNCTION, ip_hex_arrow, [VARCHAR], VARCHAR, type="arrow")


def _network_ranges(net: IPNetwork) -> tuple[tuple[int, int] | None, tuple[str, str]]:
    """(IPv4 number range or None, 128-bit hex range) covered by ``net``."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        return (first, last), (f"{first + _V4_MAPPED:032x}", f"{last + _V4_MAPPED:032x}")
    wide = (f"{first:032x}", f"{last:032x}")
    lo, hi = max(first, _V4_MAPPED), min(last, _V4_MAPPED + _V4_SPAN - 1)
    return ((lo - _V4_MAPPED, hi - _V4_MAPPED) if lo <= hi else None), wide


def _ip_clause(net: IPNetwork, params: list[Any]) -> str:
    v4, v6 = _network_ranges(net)
    v6_sql = f"(contains({_IP}, ':') AND {IP_HEX_FUNCTION}({_IP}) BETWEEN ? AND ?)"
    if v4 is None:
        params.extend(v6)
        return v6_sql
    params.extend([*v4, *v6])
    return f"((NOT contains({_IP}, ':') AND ({_V4_NUMBER}) BETWEEN ? AND ?) OR {v6_sql})"


def _in(column: str, values: tuple[str, ...], params: list[Any]) -> str:
    params.extend(values)
    if len(values) == 1:
        return f"{col(column)} = ?"
    return f"{col(column)} IN ({', '.join('?' for _ in values)})"


def _any(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _rule(ref: RuleRef, params: list[Any]) -> str:
    rule, group_rule = col("waf.terminating_rule.id"), col("waf.terminating_rule.group_rule")
    if ref.sub_rule is None:
        params.extend([ref.rule, ref.rule])
        return f"({rule} = ? OR {group_rule} = ?)"
    params.extend([ref.rule, ref.sub_rule])
    return f"({rule} = ? AND {group_rule} = ?)"


def _midnight(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    return (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)


# the words the hourly rollup (tiering.rollup) holds the fields of
ROLLUP_WORDS = frozenset({"action", "webacl", "rule", "client_ip"})


def words(flt: Filter) -> set[str]:
    """The filter words ``flt`` uses (besides the time range)."""
    return {word for word in FILTER_FIELDS if getattr(flt, word)}


def _whole_hour(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    return (moment.minute, moment.second, moment.microsecond) == (0, 0, 0)


def _time_range(flt: Filter, column: str, params: list[Any]) -> str:
    if _midnight(flt.start) and _midnight(flt.end):
        # whole UTC days: the partition date alone is exact (a partition holds the
        # records of its @timestamp's UTC day), and DuckDB reads no timestamp column
        params.extend([flt.start.date(), flt.end.date()])
        return "date >= ? AND date < ?"
    # date prunes whole partitions; the timestamp range is the exact, half-open one
    params.extend([flt.start.date(), flt.end.date(), flt.start, flt.end])
    ts = col(column)
    return f"date BETWEEN ? AND ? AND {ts} >= ? AND {ts} < ?"


def _word_parts(flt: Filter, params: list[Any]) -> list[str]:
    parts = []
    for word in KEYWORD_WORDS:
        values: tuple[str, ...] = getattr(flt, word)
        if values:
            parts.append(_in(FILTER_FIELDS[word][0], values, params))
    if flt.webacl:
        arn = _in("waf.webacl.arn", flt.webacl, params)
        name = _in("waf.webacl.name", flt.webacl, params)
        parts.append(f"({arn} OR {name})")
    if flt.label:
        params.append(list(flt.label))
        parts.append(f"list_has_any({col('waf.labels')}, ?::VARCHAR[])")
    if flt.rule:
        parts.append(_any([_rule(ref, params) for ref in flt.rule]))
    if flt.client_ip:
        parts.append(_any([_ip_clause(net, params) for net in flt.client_ip]))
    if flt.path_prefix:
        clauses = []
        for prefix in flt.path_prefix:
            params.append(prefix)
            clauses.append(f"starts_with({col('url.path')}, ?)")
        parts.append(_any(clauses))
    return parts


def where(flt: Filter) -> tuple[str, list[Any]]:
    """``(sql, params)``: the filter as a WHERE condition (without the keyword)."""
    params: list[Any] = []
    parts = [_time_range(flt, "@timestamp", params), *_word_parts(flt, params)]
    return " AND ".join(parts), params


def rollup_where(flt: Filter) -> tuple[str, list[Any]]:
    """``(sql, params)``: the filter as a WHERE condition over the hourly rollup view,
    whose rows are whole UTC hours (``hour``) of records with equal :data:`ROLLUP_WORDS`
    fields: exact for a range of whole hours and those words only (else ValueError)."""
    if not (_whole_hour(flt.start) and _whole_hour(flt.end)):
        raise ValueError("the rollup holds whole hours only")
    if words(flt) - ROLLUP_WORDS:
        raise ValueError(f"the rollup cannot filter on {sorted(words(flt) - ROLLUP_WORDS)}")
    params: list[Any] = []
    parts = [_time_range(flt, "hour", params), *_word_parts(flt, params)]
    return " AND ".join(parts), params
