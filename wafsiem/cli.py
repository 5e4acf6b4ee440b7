"""The one ``wafsiem`` command root.

Core commands (``config``, ``stack``, ``init``) live in the core; every capability
registers its commands through the ``wafsiem.commands`` entry-point group (a callable
taking the root group), so the core never imports a capability package.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points

import click
from pydantic import ValidationError
from rich.console import Console

from wafsiem.errors import WafsiemError
from wafsiem.output import emit, json_option
from wafsiem.settings import CONFIG_ENV, get_settings, masked, reset_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"TOML settings file (also ${CONFIG_ENV}); the environment overrides it",
)
@click.version_option(package_name="wafsiem")
def root(config_path: str | None) -> None:
    """wafsiem: WAF log analytics and SIEM ingestion for AWS WAFv2."""
    if config_path:
        os.environ[CONFIG_ENV] = config_path
        reset_settings()


@root.group("config")
def config_group() -> None:
    """Inspect the effective settings."""


@config_group.command("show")
@json_option
def config_show(as_json: bool) -> None:
    """Print the effective settings, secrets masked."""
    data = masked(get_settings())

    def render(out: Console) -> None:
        for line in flatten_settings(data):
            out.print(line, markup=False)

    emit(data, as_json, render)


def flatten_settings(data: object, prefix: str = "") -> list[str]:
    """``a.b = value`` lines, the same keys the TOML file and ``WAFSIEM_A__B`` use."""
    if isinstance(data, dict):
        lines: list[str] = []
        for key, value in data.items():
            lines.extend(flatten_settings(value, f"{prefix}{key}."))
        return lines
    return [f"{prefix[:-1]} = {data!r}"]


def _register_core() -> None:
    from wafsiem.init_cli import register as register_init
    from wafsiem.stack.cli import register as register_stack

    register_stack(root)
    register_init(root)


def _register_capabilities() -> None:
    for entry in sorted(entry_points(group="wafsiem.commands"), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError as exc:  # a capability not installed or broken: say so, go on
            click.echo(f"warning: commands {entry.name!r} unavailable: {exc}", err=True)
            continue
        register(root)


def build_root() -> click.Group:
    if not getattr(root, "_wafsiem_registered", False):
        _register_core()
        _register_capabilities()
        root._wafsiem_registered = True  # type: ignore[attr-defined]
    return root


def main() -> None:
    cli = build_root()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except WafsiemError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except ValidationError as exc:
        click.echo(f"error: invalid settings or input:\n{exc}", err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
