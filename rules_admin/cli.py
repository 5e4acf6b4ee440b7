"""``wafsiem serve``: the HTTP API (Firehose endpoint, health, metrics) under uvicorn."""

from __future__ import annotations

import logging

import click

from wafsiem.output import console, print_json
from wafsiem.settings import get_settings

log = logging.getLogger(__name__)


def register(root: click.Group) -> None:
    root.add_command(serve)


@click.command("serve")
@click.option("--host", default=None, help="address to listen on (default: settings api.host)")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="default: settings api.port"
)
@click.option(
    "--json", "as_json", is_flag=True, help="print the listening address as JSON on start"
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(host: str | None, port: int | None, as_json: bool, log_level: str) -> None:
    """Serve POST /firehose, GET /healthz and GET /metrics until interrupted."""
    import uvicorn

    from rules_admin.app import create_app

    settings = get_settings()
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    warning = None
    if not settings.firehose.access_key or not settings.firehose.access_key.get_secret_value():
        warning = (
            "no Firehose access key set (WAFSIEM_FIREHOSE__ACCESS_KEY): "
            "/firehose refuses every delivery"
        )
    if as_json:
        print_json(
            {"serving": f"http://{host}:{port}", "host": host, "port": port, "warning": warning}
        )
    else:
        out = console(stderr=True)
        out.print(f"wafsiem serving on http://{host}:{port}", markup=False)
        if warning:
            out.print(f"warning: {warning}", markup=False, style="yellow")
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings), host=host, port=port, log_level=log_level, access_log=not as_json
    )
