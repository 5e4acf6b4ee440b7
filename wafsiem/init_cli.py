"""`wafsiem init`."""

from __future__ import annotations

import click
from rich.console import Console

from wafsiem.bootstrap import initialise
from wafsiem.clients import opensearch_client, s3_client, sqs_client
from wafsiem.output import emit, json_option
from wafsiem.settings import get_settings


@click.command("init")
@json_option
def init_command(as_json: bool) -> None:
    """Install index templates, create buckets and queues (idempotent)."""
    settings = get_settings()
    report = initialise(
        settings, opensearch_client(settings), s3_client(settings), sqs_client(settings)
    )

    def render(out: Console) -> None:
        for step in report.steps:
            out.print(f"{step.outcome:>8}  {step.kind} {step.name}", markup=False)

    emit(report.model_dump(), as_json, render)


def register(root: click.Group) -> None:
    root.add_command(init_command)
