"""``python make_db.py``: ingest a folder, print a summary or JSON, re-runs are no-ops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from h2ogpt.documents.make_db import main
from support.paths import REPO, TESTS


@pytest.fixture
def user_path(tmp_path: Path) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "rivers.txt").write_text("The Rhine flows from the Alps to the North Sea.", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "forests.txt").write_text(
        "The Amazon rainforest covers most of the Amazon basin.", encoding="utf-8"
    )
    (folder / "broken.bin").write_bytes(b"\xff\xfe\x00\x81 not text \x00" * 10)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_lists_ok_and_failed_files(tmp_path: Path, user_path: Path, capsys) -> None:
    code, out, _ = run(
        capsys, f"--user_path={user_path}", "--collection_name=Geo", f"--data_dir={tmp_path / 'data'}"
    )
    assert code == 0
    assert "collection Geo: 2 files ok (2 added" in out
    assert "1 failed" in out and "failed: " in out and "broken.bin" in out
    assert "now holds 2 documents" in out


def test_json_output_and_unchanged_rerun(tmp_path: Path, user_path: Path, capsys) -> None:
    flags = [f"--user_path={user_path}", f"--data_dir={tmp_path / 'data'}", "--json_output"]
    code, out, _ = run(capsys, *flags)
    first = json.loads(out)
    assert code == 0 and first["collection"] == "UserData"
    assert (first["files_ok"], first["files_failed"]) == (2, 1)
    assert first["chunks_added"] >= 2 and first["collection_chunks"] == first["chunks_added"]
    failed = [d for d in first["documents"] if d["status"] == "failed"]
    assert failed[0]["source"].endswith("broken.bin") and failed[0]["reason"]

    code, out, _ = run(capsys, *flags)
    second = json.loads(out)
    assert code == 0 and second["chunks_added"] == 0
    assert sorted(d["status"] for d in second["documents"]) == ["failed", "unchanged", "unchanged"]


def test_bad_input_is_one_clear_line(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, f"--data_dir={tmp_path}")
    assert code == 2 and "--user_path is required" in err
    code, _, err = run(capsys, f"--user_path={tmp_path / 'nope'}", f"--data_dir={tmp_path}")
    assert code == 2 and "no such file or folder" in err
    code, _, err = run(capsys, f"--user_path={tmp_path}", "--collection_name=a b", f"--data_dir={tmp_path}")
    assert code == 2 and "not valid" in err


def test_only_failures_exit_1(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.bin").write_bytes(b"\xff\xfe\x00\x81" * 10)
    code, out, _ = run(capsys, f"--user_path={folder}", f"--data_dir={tmp_path / 'data'}", "--json_output")
    assert code == 1 and json.loads(out)["files_failed"] == 1


def test_entry_help() -> None:
    done = subprocess.run(
        [sys.executable, "make_db.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert (
        "--collection_name" in done.stdout and "--json_output" in done.stdout and "--user_path" in done.stdout
    )


@pytest.mark.slow
def test_entry_with_real_loaders(tmp_path: Path, user_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}
    code = "import sys, runpy; from support import netguard; netguard.install(); sys.argv[0] = 'make_db.py'; runpy.run_path('make_db.py', run_name='__main__')"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            f"--user_path={user_path}",
            f"--data_dir={tmp_path / 'data'}",
            "--json_output",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert "NETGUARD" not in done.stderr
    assert result["files_ok"] == 2 and result["files_failed"] == 1
