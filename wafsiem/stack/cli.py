"""`wafsiem stack up|down|status|env|fetch`."""

from __future__ import annotations

import shlex
import sys

import click
from rich.console import Console

from wafsiem.output import emit, json_option
from wafsiem.settings import get_settings
from wafsiem.stack import service
from wafsiem.stack.parts import stack_env


def _notifier(as_json: bool) -> service.Notify:
    def notify(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    return notify


def _render_status(status: service.StackStatus) -> None:
    out = Console(highlight=False)
    for part in status.parts:
        state = "running" if part.running else "stopped"
        extra = f" pid {part.pid}" if part.pid else ""
        answers = f" ({part.answers})" if part.answers else ""
        out.print(f"{part.name:<11}{state:<9}{part.url}{extra}{answers}", markup=False)
        if part.note:
            out.print(f"{'':<11}note: {part.note}", markup=False)


@click.group("stack")
def stack_group() -> None:
    """The local stack: OpenSearch, S3Proxy, ElasticMQ and moto (WAFv2) on 127.0.0.1."""


def _parse_only(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


only_option = click.option(
    "--only", default=None, help="comma-separated parts: opensearch,s3,sqs,waf (default: all)"
)


@stack_group.command("up")
@only_option
@json_option
def up_command(only: str | None, as_json: bool) -> None:
    """Start every part not yet running and wait until each answers (idempotent)."""
    result = service.up(get_settings(), _notifier(as_json), _parse_only(only))
    emit(result.model_dump(), as_json, lambda _c: _render_status(result))


@stack_group.command("down")
@only_option
@json_option
def down_command(only: str | None, as_json: bool) -> None:
    """Stop exactly the processes `stack up` started."""
    result = service.down(get_settings(), _notifier(as_json), _parse_only(only))
    emit(result.model_dump(), as_json, lambda _c: _render_status(result))


@stack_group.command("status")
@only_option
@json_option
def status_command(only: str | None, as_json: bool) -> None:
    """Report each part: running, pid, URL, what answers. Exit 3 unless all run."""
    result = service.status(get_settings(), _parse_only(only))
    emit(result.model_dump(), as_json, lambda _c: _render_status(result))
    if not result.all_running:
        sys.exit(3)


@stack_group.command("env")
@json_option
def env_command(as_json: bool) -> None:
    """Print `export WAFSIEM_...=...` lines pointing wafsiem at the stack."""
    env = stack_env(get_settings())

    def render(_console: Console) -> None:
        for key, value in env.items():
            click.echo(f"export {key}={shlex.quote(value)}")

    emit(env, as_json, render)


@stack_group.command("fetch")
@json_option
def fetch_command(as_json: bool) -> None:
    """Resolve the pinned Maven artifacts into the cache (no servers started)."""
    paths = service.fetch(get_settings(), _notifier(as_json))

    def render(_console: Console) -> None:
        for path in paths:
            click.echo(str(path))

    emit({"artifacts": [str(p) for p in paths]}, as_json, render)


def register(root: click.Group) -> None:
    root.add_command(stack_group)
