"""Helpers shared by the parser and schema unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.parser import ParsedDocument, ParserOptions, ParseStats, Reject, parse_stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "waf"
HASH_KEY = b"test-hash-key"


def fixture_paths() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@pytest.fixture
def options() -> ParserOptions:
    return ParserOptions(hash_key=HASH_KEY)


def parse_all(
    data: bytes | list[bytes], options: ParserOptions | None = None, origin: str = "test"
) -> tuple[list[ParsedDocument], list[Reject], ParseStats]:
    stats = ParseStats()
    docs: list[ParsedDocument] = []
    rejects: list[Reject] = []
    for result in parse_stream(
        data, origin=origin, options=options or ParserOptions(hash_key=HASH_KEY), stats=stats
    ):
        if isinstance(result, ParsedDocument):
            docs.append(result)
        else:
            rejects.append(result)
    return docs, rejects, stats


def parse_one(data: bytes, options: ParserOptions | None = None) -> dict[str, Any]:
    docs, rejects, _ = parse_all(data, options)
    assert not rejects, rejects
    assert len(docs) == 1
    return docs[0].doc
