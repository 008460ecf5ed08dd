"""Driving the browser UI from a test: ask, wait for the saved answer, set controls, log in."""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Page, expect

USERS = {"alice": "wonderland", "bob": "builder"}
ANSWER_TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bot_messages(page: Page, chatbot: int = 0):
    return page.locator(f"#chatbot-{chatbot} .message.bot")


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def wait_until_saved(page: Page, title_start: str) -> None:
    """The answer is complete once its chat is saved and selected in the sidebar."""
    saved = page.locator("#saved-chats label").filter(has_text=title_start[:40])
    expect(saved.locator("input:checked")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)


def set_number(page: Page, elem_id: str, value: int) -> None:
    """Set a slider through its number box."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def choose(page: Page, elem_id: str, option: str) -> None:
    """Pick an option of a dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)}$")).click()


def login(page: Page, url: str, user: str, password: str) -> None:
    page.goto(url)
    page.get_by_label(re.compile("username", re.I)).fill(user)
    page.get_by_label(re.compile("password", re.I)).fill(password)
    page.get_by_role("button", name=re.compile("login", re.I)).click()
    expect(page.locator("#user-line")).to_contain_text(user)


def open_chat(page: Page, url: str) -> None:
    """Open the page for a plain chat (no documents, whatever the collections hold)."""
    page.goto(url)
    expect(page.locator("#chat-collection input")).not_to_have_value("", timeout=60_000)  # collections listed
    choose(page, "chat-collection", "LLM")


def add_files(page: Page, files: Path | Sequence[Path]) -> None:
    """Upload files in the Documents tab and press "Add to collection".

    Gradio uploads a chosen file in the background and the previous ingest clears the
    uploader when it ends: pressing "Add" before the names show (or while the last ingest
    is still clearing) sends no files, so both are awaited first."""
    paths = [files] if isinstance(files, Path) else list(files)
    uploader = page.locator("#upload-files")
    expect(uploader.locator("input[type=file]")).to_have_count(1)
    uploaded = uploader.get_by_role("row")
    expect(uploaded).to_have_count(0, timeout=ANSWER_TIMEOUT_MS)
    uploader.locator("input[type=file]").set_input_files(paths)
    for path in paths:
        row = uploader.get_by_role("row", name=re.compile(re.escape(path.name)))
        expect(row).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    page.locator("#add-documents").click()
