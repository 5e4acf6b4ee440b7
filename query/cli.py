"""``wafsiem query events|top|timeline``: thin commands over :mod:`query.service`.

Filter flags are the filter words of :data:`query.filters.FILTER_FIELDS` with ``-`` for
``_`` (each repeatable; values of one word are OR-ed, words AND-ed), plus ``--from`` and
``--to``. Values printed for people are log content (attack payloads included): every
cell is a plain :class:`rich.text.Text` (never markup) with control characters shown as
escapes, so nothing in a record can style, move or retitle the terminal.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from query.filters import FILTER_FIELDS, Filter, build_filter
from query.models import INTERVAL_MS, TOP_FIELDS, EventsPage, TimelineResult, TopResult
from query.service import QueryContext, events, timeline, top
from wafsiem.output import console, emit, json_option
from wafsiem.settings import Settings, get_settings

F = TypeVar("F", bound=Callable[..., Any])

# columns of the events table when --fields is not given (JSON gets the service default)
TABLE_FIELDS = (
    "@timestamp",
    "waf.action",
    "waf.terminating_rule.id",
    "waf.terminating_rule.group_rule",
    "source.ip",
    "source.geo.country_iso_code",
    "http.request.method",
    "url.domain",
    "url.path",
)
ACTION_COLOURS = {
    "ALLOW": "#4c9a2a",
    "BLOCK": "#c0392b",
    "CAPTCHA": "#e67e22",
    "CHALLENGE": "#8e44ad",
    "COUNT": "#2980b9",
}
# C0/C1 controls, DEL, and the invisible format characters that reorder or hide text
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


# --- input -------------------------------------------------------------------------------


# what each filter word matches, for --help
FILTER_HELP = {
    "action": ("ACTION", "ALLOW, BLOCK, CAPTCHA or CHALLENGE"),
    "webacl": ("NAME|ARN", "the web ACL, by name or ARN"),
    "rule": ("RULE[:SUB]", "terminating rule or group rule; Rule:SubRule for both"),
    "client_ip": ("IP|CIDR", "client address or network, IPv4 or IPv6"),
    "country": ("CC", "client country, ISO 3166 alpha-2"),
    "host": ("HOST", "url.domain"),
    "path_prefix": ("PREFIX", "url.path starts with PREFIX"),
    "label": ("LABEL", "a WAF label (awswaf:...)"),
    "method": ("METHOD", "HTTP method"),
    "ja4": ("JA4", "TLS JA4 fingerprint"),
}


def filter_options(command: F) -> F:
    """``--from``, ``--to`` and one repeatable option per filter word."""
    for word in reversed(FILTER_FIELDS):
        metavar, text = FILTER_HELP.get(word, ("VALUE", ", ".join(FILTER_FIELDS[word])))
        command = click.option(
            f"--{word.replace('_', '-')}",
            word,
            multiple=True,
            metavar=metavar,
            help=f"{text} (repeatable: any of the values)",
        )(command)
    command = click.option(
        "--to", "to", default=None, metavar="TIME", help="end, exclusive (default: now)"
    )(command)
    command = click.option(
        "--from",
        "from_",
        default=None,
        metavar="TIME",
        help="start, inclusive: ISO 8601 or relative such as -24h, -7d (default: to - 24h)",
    )(command)
    return command


def _filter(settings: Settings, from_: str | None, to: str | None, words: dict[str, Any]) -> Filter:
    raw: dict[str, object] = {"from": from_, "to": to}
    raw.update({word: list(words.get(word) or ()) for word in FILTER_FIELDS})
    return build_filter(raw, max_range=timedelta(days=settings.query.max_range_days))


def _context(settings: Settings) -> QueryContext:
    from tiering.store import open_store
    from wafsiem.clients import opensearch_client

    return QueryContext.from_settings(
        settings, opensearch_client(settings), open_store(settings.cold_uri, settings)
    )


# --- output ------------------------------------------------------------------------------


def safe_text(value: object) -> str:
    """Log content as inert text: control and bidi characters become visible escapes."""
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif value is None:
        text = ""
    else:
        text = str(value)
    return _UNSAFE.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def cell(value: object) -> Text:
    """A table cell that is never parsed as rich markup."""
    return Text(safe_text(value))


def describe_filter(flt: dict[str, Any]) -> str:
    """``2026-11-20T10:00:00.000Z .. 2026-11-21T10:00:00.000Z  action=BLOCK  rule=A,B``."""
    parts = [f"{flt.get('from')} .. {flt.get('to')}"]
    for word in FILTER_FIELDS:
        if flt.get(word):
            parts.append(f"{word}={','.join(str(v) for v in flt[word])}")
    return safe_text("  ".join(parts))


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=Text(title) if title else None, title_justify="left")
    for name in columns:
        table.add_column(Text(name), overflow="fold")
    return table


def _plan_line(plan: dict[str, Any]) -> str:
    hot, cold = plan.get("hot_days", []), plan.get("cold_days", [])
    return f"days: {len(hot)} hot, {len(cold)} cold"


def render_events(page: EventsPage, columns: list[str], out: Console) -> None:
    table = _table(*columns)
    for event in page.events:
        table.add_row(*(cell(event.get(name)) for name in columns))
    out.print(table)
    out.print(
        Text(f"{len(page.events)} event(s), newest first; {_plan_line(page.plan.model_dump())}")
    )
    if page.next_cursor:
        out.print(Text(f"next page: --cursor {page.next_cursor}"))


def render_top(result: TopResult, out: Console) -> None:
    table = _table("#", result.by, "count", "share", "client IPs")
    for rank, bucket in enumerate(result.buckets, start=1):
        share = f"{bucket.count / result.total:.1%}" if result.total else "-"
        table.add_row(
            str(rank), cell(bucket.key), f"{bucket.count:,}", share, f"{bucket.client_ips:,}"
        )
    out.print(Text(describe_filter(result.filter)))
    out.print(table)
    out.print(
        Text(
            f"{result.total:,} matching; {result.other:,} counted in buckets beyond the "
            f"first {len(result.buckets)}; {_plan_line(result.plan.model_dump())}"
        )
    )


def _actions(result: TimelineResult) -> list[str]:
    return sorted({action for bucket in result.buckets for action in bucket.actions})


def render_timeline(result: TimelineResult, out: Console) -> None:
    actions = _actions(result)
    table = _table("time", "total", *actions)
    for bucket in result.buckets:
        table.add_row(
            bucket.time,
            f"{bucket.total:,}",
            *(f"{bucket.actions.get(action, 0):,}" for action in actions),
        )
    out.print(Text(describe_filter(result.filter)))
    out.print(table)
    out.print(
        Text(
            f"{result.total:,} in {len(result.buckets)} bucket(s) of {result.interval}; "
            f"{_plan_line(result.plan.model_dump())}"
        )
    )


def plot_timeline(result: TimelineResult, path: Path) -> None:
    """A stacked area chart of the buckets per action, written as PNG to ``path``."""
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    step = timedelta(milliseconds=INTERVAL_MS[result.interval])
    times = [datetime.fromisoformat(b.time) for b in result.buckets]
    actions = _actions(result)
    fig = Figure(figsize=(11, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # Agg, with no pyplot and no global backend state
    ax = fig.add_subplot()
    if times:
        # each bucket drawn over its whole interval: one more point at the end
        edges = mdates.date2num([*times, times[-1] + step])
        if actions:
            series = [[b.actions.get(a, 0) for b in result.buckets] for a in actions]
            ax.stackplot(
                edges,
                [[*values, values[-1]] for values in series],
                labels=actions,
                colors=[ACTION_COLOURS.get(a, "#7f8c8d") for a in actions],
                step="post",
                alpha=0.85,
            )
            ax.legend(loc="upper left", fontsize="small")
        else:
            ax.plot(edges, [0] * len(edges), color="#7f8c8d")
        ax.set_xlim(float(edges[0]), float(edges[-1]))
    ax.set_ylim(bottom=0)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"requests per {result.interval}")
    ax.grid(alpha=0.3)
    # the filter is user text: no mathtext ($...$), wrapped and bounded
    lines = textwrap.wrap(describe_filter(result.filter), 110)[:3]
    title = [f"requests per {result.interval} by action ({result.total:,} in all)", *lines]
    ax.set_title("\n".join(title), fontsize=9, parse_math=False)
    fig.savefig(path, format="png")


# --- commands ----------------------------------------------------------------------------


@click.group("query")
def query_group() -> None:
    """Search WAF records across the hot and cold tiers: events, top, timeline."""


@query_group.command("events")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=None, help="events per page")
@click.option("--cursor", default=None, help="the next-page cursor a previous page printed")
@click.option(
    "--fields",
    default=None,
    metavar="A,B,C",
    help="schema fields to return (e.g. url.path,source.ip); '*' for all",
)
@json_option
def events_command(
    from_: str | None,
    to: str | None,
    limit: int | None,
    cursor: str | None,
    fields: str | None,
    as_json: bool,
    **words: Any,
) -> None:
    """Matching records, newest first, one page at a time."""
    settings = get_settings()
    flt = _filter(settings, from_, to, words)
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    page = events(_context(settings), flt, limit=limit, cursor=cursor, fields=wanted)
    if wanted and wanted != ["*"]:
        columns = list(dict.fromkeys(wanted))
    elif wanted == ["*"]:
        columns = sorted({name for event in page.events for name in event})
    else:
        columns = list(TABLE_FIELDS)
    emit(page.model_dump(mode="json"), as_json, lambda out: render_events(page, columns, out))


@query_group.command("top")
@filter_options
@click.option("--by", type=click.Choice(list(TOP_FIELDS)), default="rule", show_default=True)
@click.option("--size", type=click.IntRange(min=1), default=10, show_default=True)
@json_option
def top_command(
    from_: str | None, to: str | None, by: Any, size: int, as_json: bool, **words: Any
) -> None:
    """The largest groups by rule, client IP, path, host, country, label, ..."""
    settings = get_settings()
    flt = _filter(settings, from_, to, words)
    result = top(_context(settings), flt, by=by, size=size)
    emit(result.model_dump(mode="json"), as_json, lambda out: render_top(result, out))


@query_group.command("timeline")
@filter_options
@click.option("--interval", type=click.Choice(list(INTERVAL_MS)), default="1h", show_default=True)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    metavar="FILE.png",
    help="also draw the timeline (stacked by action) as a PNG",
)
@json_option
def timeline_command(
    from_: str | None,
    to: str | None,
    interval: Any,
    plot: Path | None,
    as_json: bool,
    **words: Any,
) -> None:
    """Requests per interval split by action, zero-filled."""
    settings = get_settings()
    flt = _filter(settings, from_, to, words)
    result = timeline(_context(settings), flt, interval=interval)
    if plot is not None:
        plot_timeline(result, plot)
    emit(result.model_dump(mode="json"), as_json, lambda out: render_timeline(result, out))
    if plot is not None:
        console(stderr=as_json).print(Text(f"chart written to {plot.resolve()}"))


def register(root: click.Group) -> None:
    root.add_command(query_group)
