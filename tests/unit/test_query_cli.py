"""``wafsiem query``: flags, inert rendering of log content, the PNG chart (no services)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from query.cli import plot_timeline, render_events, render_timeline, render_top, safe_text
from query.filters import FILTER_FIELDS, FilterError
from query.models import (
    EventsPage,
    Plan,
    TimelineBucket,
    TimelineResult,
    TopBucket,
    TopResult,
)
from wafsiem.cli import build_root

HOSTILE = [
    "/[red]x[/red]",
    "/[/]",
    "/[bold]b",
    "/[link=https://evil.example]click[/link]",
    "/:smiley: $x^2$ \\[",
    "/\x1b[2J\x1b]0;pwned\x07\x1b[31mred",
    "/\u202eevil\u200b",
]
FILTER = {"from": "2026-11-20T00:00:00.000Z", "to": "2026-11-21T00:00:00.000Z"}


def rendered(render: object, *args: object) -> str:
    buffer = io.StringIO()
    out = Console(file=buffer, width=250, highlight=False, color_system=None)
    render(*args, out)  # type: ignore[operator]
    return buffer.getvalue()


def test_every_filter_word_is_a_repeatable_flag_on_every_query_command() -> None:
    group = build_root().commands["query"]
    for name in ("events", "top", "timeline"):
        command = group.commands[name]  # type: ignore[attr-defined]
        options = {opt: param for param in command.params for opt in param.opts}
        for word in FILTER_FIELDS:
            flag = f"--{word.replace('_', '-')}"
            assert flag in options and options[flag].multiple, (name, flag)
        assert {"--from", "--to", "--json"} <= set(options)


def test_safe_text_shows_controls_as_escapes() -> None:
    assert safe_text("/a\x1b[31m\x07\x7f\x9b") == "/a\\x1b[31m\\x07\\x7f\\x9b"
    assert safe_text("\u202eabc\u200b\ufeff") == "\\u202eabc\\u200b\\ufeff"
    assert safe_text(["a", "b"]) == "a, b" and safe_text(None) == "" and safe_text(3) == "3"
    assert safe_text("größe/日本 [x]") == "größe/日本 [x]"


def test_events_table_prints_hostile_values_literally() -> None:
    page = EventsPage(
        events=[{"url.path": p, "user_agent.original": p} for p in HOSTILE],
        next_cursor="abc",
        filter=FILTER,
        plan=Plan(),
    )
    text = rendered(render_events, page, ["url.path", "user_agent.original"])
    for value in HOSTILE[:5]:
        assert text.count(value) == 2, value
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "/\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mred" in text
    assert "next page: --cursor abc" in text


def test_top_and_timeline_tables_print_keys_literally() -> None:
    top = TopResult(
        by="path",
        fields=["url.path"],
        buckets=[TopBucket(key=p, values=[p], count=3, client_ips=1) for p in HOSTILE],
        total=30,
        other=9,
        filter={**FILTER, "path_prefix": ["/[red]"]},
        plan=Plan(),
    )
    text = rendered(render_top, top)
    for value in HOSTILE[:5]:
        assert value in text
    assert "path_prefix=/[red]" in text and "\x1b" not in text
    timeline = TimelineResult(
        interval="1h",
        buckets=[
            TimelineBucket(time="2026-11-20T00:00:00.000Z", total=0, actions={}),
            TimelineBucket(
                time="2026-11-20T01:00:00.000Z", total=5, actions={"ALLOW": 2, "BLOCK": 3}
            ),
        ],
        total=5,
        filter={**FILTER, "host": ["[bold]h[/]"]},
        plan=Plan(hot_days=["2026-11-20"]),
    )
    text = rendered(render_timeline, timeline)
    assert "host=[bold]h[/]" in text and "2 bucket(s) of 1h" in text


@pytest.mark.parametrize("actions", [{"ALLOW": 2, "BLOCK": 3, "WEIRD": 1}, {}])
def test_plot_writes_a_png_even_for_hostile_titles_and_no_data(
    tmp_path: Path, actions: dict[str, int]
) -> None:
    buckets = [
        TimelineBucket(
            time=f"2026-11-20T{h:02d}:00:00.000Z",
            total=sum(actions.values()) * (h % 3),
            actions={a: n * (h % 3) for a, n in actions.items() if h % 3},
        )
        for h in range(24)
    ]
    result = TimelineResult(
        interval="1h",
        buckets=buckets,
        total=sum(b.total for b in buckets),
        filter={**FILTER, "path_prefix": ["/$x^{", "/[/]", "/a\x1b[2J"], "label": ["$$"]},
        plan=Plan(),
    )
    png = tmp_path / "t.png"
    plot_timeline(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_filters_fail_before_any_service_is_contacted() -> None:
    root = build_root()
    for args in (
        ["events", "--client-ip", "10.0.0.0/33"],
        ["top", "--from", "2026-01-02", "--to", "2026-01-01"],
        ["timeline", "--from", "-500d"],
        ["events", "--rule", ":x"],
    ):
        result = CliRunner().invoke(root, ["query", *args])
        assert isinstance(result.exception, FilterError), (args, result.output)
    usage = CliRunner().invoke(root, ["query", "top", "--by", "nope"])
    assert usage.exit_code == 2 and "nope" in usage.output
