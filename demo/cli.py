"""``wafsiem demo``: the stack, the whole story, a report, then the API keeps serving."""

from __future__ import annotations

import os
import secrets
import socket
import sys

import click
import orjson
from pydantic import SecretStr

from wafsiem.auth import key_digest, new_key
from wafsiem.hash_key import ensure_hash_key
from wafsiem.output import console, emit, json_option, progress
from wafsiem.settings import ApiKey, Settings, get_settings, reset_settings

DEMO_KEY_NAME = "demo-read"


def register(root: click.Group) -> None:
    root.add_command(demo_command)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def app_settings(settings: Settings, firehose_key: str, read_key: str) -> Settings:
    """The served app's settings: the Firehose access key, the demo's read key, and no
    detector loop (the demo ran the detector itself)."""
    keys = [k for k in settings.api.keys if k.name != DEMO_KEY_NAME]
    keys.append(ApiKey(name=DEMO_KEY_NAME, sha256=key_digest(read_key), scopes=["read"]))
    return settings.model_copy(
        update={
            "firehose": settings.firehose.model_copy(
                update={"access_key": SecretStr(firehose_key)}
            ),
            "api": settings.api.model_copy(update={"keys": keys}),
            "detector": settings.detector.model_copy(update={"interval_seconds": 0}),
        }
    )


@click.command("demo")
@click.option("--days", type=click.IntRange(2, 31), default=3, show_default=True,
              help="UTC days of traffic, today included")  # fmt: skip
@click.option("--rps", type=click.FloatRange(0.01, 200), default=1.0, show_default=True,
              help="baseline requests per second over all domains")  # fmt: skip
@click.option("--hot-days", type=click.IntRange(0), default=1, show_default=True,
              help="days kept hot besides today; older days go to Parquet")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True, help="same seed, same traffic")
@click.option("--host", default=None, help="API address (default: settings api.host)")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="API port (default: settings api.port, else a free one)")  # fmt: skip
@click.option("--no-serve", is_flag=True, help="exit after the report instead of serving")
@json_option
def demo_command(
    days: int,
    rps: float,
    hot_days: int,
    seed: int,
    host: str | None,
    port: int | None,
    no_serve: bool,
    as_json: bool,
) -> None:
    """Run the whole story on the local stack: stack up, init, several days of traffic
    for 279 domains with a false-positive spike and an attack, older days in through S3 +
    SQS and today through the Firehose endpoint, tiering, the detector (which switches
    the false positive to COUNT on the WAFv2 emulator), a report; then the API serves.

    Running it twice is safe: the same traffic is generated again (duplicates add
    nothing) and the override found in place is reported, not repeated.
    """
    from demo.models import DemoOptions
    from demo.report import render
    from demo.server import ApiServer
    from demo.service import DemoServices, run_demo
    from wafsiem.clients import opensearch_client, s3_client, sqs_client, wafv2_client
    from wafsiem.stack import service as stack
    from wafsiem.stack.parts import stack_env

    options = DemoOptions(days=days, rps=rps, hot_days=hot_days, seed=seed)
    err = console(stderr=True)

    def note(message: str) -> None:
        if as_json:
            sys.stderr.write(orjson.dumps({"step": message}).decode() + "\n")
        else:
            err.print(f"==> {message}", markup=False, style="bold", soft_wrap=True)

    note("local stack: OpenSearch, S3Proxy, ElasticMQ, moto (wafsiem stack up)")
    stack.up(get_settings(), lambda m: note(f"stack: {m}"))
    os.environ.update(stack_env(get_settings()))  # this process now talks to the stack
    reset_settings()
    if ensure_hash_key(get_settings())[0] == "created":  # what `wafsiem init` would do
        reset_settings()  # so this very run hashes headers with it, not the public default
    settings = get_settings()

    configured = settings.firehose.access_key
    firehose_key = (
        configured.get_secret_value()
        if configured and configured.get_secret_value()
        else "demo-" + secrets.token_urlsafe(16)
    )
    read_key = new_key()
    host = host or settings.api.host
    if port is None:
        port = settings.api.port if _port_free(host, settings.api.port) else 0
    server = ApiServer(app_settings(settings, firehose_key, read_key), host, port).start()
    note(f"API serving on {server.url} (POST /firehose takes today's traffic)")
    try:
        services = DemoServices(
            settings=settings,
            opensearch=opensearch_client(settings),
            s3=s3_client(settings),
            sqs=sqs_client(settings),
            wafv2=lambda region: wafv2_client(settings, region),
            firehose_url=f"{server.url}/firehose",
            firehose_key=firehose_key,
            ingest_counters=lambda kind: server.ingest_counters(kind, read_key),
            progress=lambda d, t: progress(d, t, as_json),
            note=note,
        )
        report = run_demo(services, options)
    except BaseException:
        server.stop()
        raise
    if not no_serve:
        report.serving = {"url": server.url, "read_key": read_key, "docs": f"{server.url}/docs"}
    emit(report.model_dump(mode="json"), as_json, lambda out: render(report, out))
    if no_serve:
        server.stop()
        return
    if not as_json:
        out = console()
        out.print(f"\nThe API keeps serving on {server.url} (Ctrl-C stops it)", markup=False)
        out.print(f"  read key: {read_key}", markup=False)
        out.print(
            f"  try: curl -H 'Authorization: Bearer {read_key}' "
            f"'{server.url}/api/v1/top?by=rule&action=BLOCK&from=-{options.days * 24}h'",
            markup=False,
            soft_wrap=True,
        )
        out.print(f"  OpenAPI: {server.url}/docs", markup=False)
    server.wait()
