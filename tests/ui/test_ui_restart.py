"""``python generate.py`` serves the browser UI by default, and a restart keeps the saved
chats and the collections (a real process, stopped and started again on the same data)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support.paths import REPO, SHARED_DATA
from support.processes import wait_for_ui_url
from support.ui_driver import add_files, ask, free_port, open_chat, wait_until_saved

STARTUP_SECONDS = 240


class UiProcess:
    """``python generate.py`` with the UI on a free loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("H2OGPT_", "HF_", "TRANSFORMERS_"))}
        env["H2OGPT_DATA_DIR"] = str(data_dir)
        self.process = subprocess.Popen(
            [sys.executable, "generate.py", f"--server_port={self.port}", "--max_new_tokens=16"],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = wait_for_ui_url(self.process, STARTUP_SECONDS)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def restart_data_dir(tmp_path: Path, converted_model_dir: Path) -> Path:
    """A fresh data folder that reuses the session's converted model (no re-conversion)."""
    (tmp_path / converted_model_dir.parent.name).mkdir()
    (tmp_path / converted_model_dir.parent.name / converted_model_dir.name).symlink_to(converted_model_dir)
    return tmp_path


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_restart_keeps_saved_chats_and_collections(pages, restart_data_dir):
    question = "Name one colour of the rainbow."
    first = UiProcess(restart_data_dir)
    try:
        page = pages.new()
        open_chat(page, first.url)
        ask(page, question)
        wait_until_saved(page, question)
        page.get_by_role("tab", name="Documents").click()
        add_files(page, SHARED_DATA / "docs" / "fake-memo.pdf")
        expect(page.locator("#ingest-status")).to_contain_text("1 added", timeout=120_000)
    finally:
        first.stop()

    second = UiProcess(restart_data_dir)
    try:
        page = pages.new()
        page.goto(second.url)
        expect(page.locator("#saved-chats")).to_contain_text(question)
        page.locator("#saved-chats label").filter(has_text=question).click()
        expect(page.locator("#chatbot-0 .message.bot")).not_to_have_count(0)
        page.get_by_role("tab", name="Documents").click()
        expect(page.locator("#doc-list")).to_contain_text("fake-memo.pdf")
    finally:
        second.stop()
