"""``wafsiem parse``."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.unit.conftest import FIXTURES
from wafsiem.cli import build_root

GOOD = (FIXTURES / "aws-sqli-terminating.json").read_bytes()
ONE_LINE = orjson.dumps(orjson.loads(GOOD))


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "2024" / "06").mkdir(parents=True)
    (root / "a.log").write_bytes(ONE_LINE + b"\nnot json\n" + ONE_LINE + b"\n")
    # gzip under a misleading name, in a sub-directory
    (root / "2024" / "06" / "b.json").write_bytes(gzip.compress(ONE_LINE + ONE_LINE))
    data = gzip.compress(ONE_LINE * 50)
    (root / "2024" / "06" / "cut.gz").write_bytes(data[: len(data) // 2])
    return root


def run(args: list[str]) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(build_root(), args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_parse_prints_documents_and_summary(logs: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.ndjson"
    code, out, err = run(["parse", str(logs), "--rejects", str(rejects)])
    assert code == 0
    docs = [orjson.loads(line) for line in out.splitlines()]
    assert len(docs) >= 4
    assert all(d["waf"]["action"] == "BLOCK" for d in docs)
    lines = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    not_json = [r for r in lines if r["reason"] == "not_json"]
    assert base64.b64decode(not_json[0]["raw_base64"]) == b"not json"
    assert not_json[0]["source"].endswith("a.log")
    assert not_json[0]["offset"] == len(ONE_LINE) + 1
    assert "3 files" in err and "truncated" in err


def test_parse_json_summary_only(logs: Path) -> None:
    code, out, _ = run(["parse", str(logs), "--json"])
    assert code == 0
    summary = orjson.loads(out)
    assert summary["files"] == 3
    assert summary["records_in"] == summary["parsed"] + summary["rejected"]
    assert summary["rejected_by_reason"]["not_json"] == 1
    assert [Path(p).name for p in summary["truncated_files"]] == ["cut.gz"]


def test_parse_json_with_out_file(logs: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "docs.ndjson"
    code, out, _ = run(["parse", str(logs / "a.log"), "--json", "--out", str(out_file)])
    assert code == 0
    assert orjson.loads(out)["parsed"] == 2
    assert len(out_file.read_bytes().splitlines()) == 2


def test_parse_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run(["parse", str(tmp_path / "nope")])
