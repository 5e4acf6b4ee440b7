"""The files generated from the schema, and whether they are up to date."""

from __future__ import annotations

import json
from pathlib import Path

from wafsiem.schema.render import index_template, schema_markdown

TEMPLATE_PATH = Path("opensearch-templates") / "waf-logs.index-template.json"
MARKDOWN_PATH = Path("docs") / "schema.md"


def repository_root() -> Path:
    """The checkout this package lives in."""
    return Path(__file__).resolve().parents[2]


def generated_files() -> dict[Path, str]:
    """Relative path -> the exact content it must have."""
    template = json.dumps(index_template(), indent=2, ensure_ascii=False) + "\n"
    return {TEMPLATE_PATH: template, MARKDOWN_PATH: schema_markdown()}


def stale_generated_files(root: Path | None = None) -> list[Path]:
    """Generated files that are missing or differ from what the schema yields."""
    base = root or repository_root()
    stale = []
    for relative, content in generated_files().items():
        path = base / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(relative)
    return stale


def write_generated_files(root: Path | None = None) -> list[Path]:
    """(Re)write every generated file; returns the ones that changed."""
    base = root or repository_root()
    changed = []
    for relative, content in generated_files().items():
        path = base / relative
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        changed.append(relative)
    return changed
