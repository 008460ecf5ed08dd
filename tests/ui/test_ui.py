"""The browser UI in headless Chromium (Debian's chromium, driven by Playwright), with the
embedded model: chat streams, Stop, documents with sources, scaling progress, logins.

Every test also fails if its page requested a host that is not loopback (see
``ui_fixtures.pages``), and saves a screenshot under test-artifacts/ when it fails.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support.paths import SHARED_DATA
from support.ui_driver import (
    ANSWER_TIMEOUT_MS,
    USERS,
    add_files,
    ask,
    bot_messages,
    choose,
    login,
    open_chat,
    set_number,
    wait_until_saved,
)

DOCS = SHARED_DATA / "docs"


def record_texts(page, selector: str, contains: str = "") -> None:
    """Record in the page every text ``selector`` shows (containing ``contains``) from now on:
    a MutationObserver sees each rendered update, however brief."""
    page.evaluate(
        """([selector, contains]) => {
            window.seenTexts = [];
            new MutationObserver(() => {
                const nodes = document.querySelectorAll(selector);
                const text = nodes.length ? nodes[nodes.length - 1].innerText : '';
                const seen = window.seenTexts;
                if (text.includes(contains) && text !== seen[seen.length - 1]) seen.push(text);
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }""",
        [selector, contains],
    )


def seen_texts(page) -> list[str]:
    return page.evaluate("window.seenTexts")


def test_a_message_gets_a_streamed_answer(page, ui_url):
    open_chat(page, ui_url)
    expect(page.locator("#model-in-use")).to_contain_text("SmolLM2")
    question = "Tell me about Paris in three sentences."
    record_texts(page, "#chatbot-0 .message.bot")
    ask(page, question)
    expect(page.locator("#chatbot-0 .message.user")).to_contain_text(question)
    wait_until_saved(page, question)
    final = bot_messages(page).last.inner_text().strip()
    assert final, "no answer was shown"
    shown = [t.strip() for t in seen_texts(page)]
    partial = [t for t in shown if t and t != final and final.startswith(t)]
    assert len(partial) >= 3, f"the answer did not stream: {shown}"
    # Regenerate answers the same question again, in place (greedy: the same answer)
    record_texts(page, "#chatbot-0 .message.bot")
    page.locator("#regenerate").click()
    page.wait_for_function(
        "final => window.seenTexts.some(t => t.trim() && t.trim() !== final && final.startsWith(t.trim()))",
        arg=final,
    )  # it streamed again
    expect(bot_messages(page).last).to_have_text(final, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#chatbot-0 .message.user")).to_have_count(1)
    # the exchange is a saved chat, and Undo takes it back
    page.locator("#undo").click()
    expect(page.locator("#chatbot-0 .message.user")).to_have_count(0)


def test_stop_ends_a_long_answer(page, ui_url):
    open_chat(page, ui_url)
    page.locator("#expert").click()
    set_number(page, "max-new-tokens", 600)
    question = "Write a very long story about a dragon who learns to cook, with many chapters."
    ask(page, question)
    answer = bot_messages(page).last
    expect(answer).to_have_text(re.compile(r"\w+\W+\w+\W+\w+"), timeout=ANSWER_TIMEOUT_MS)  # it has started
    page.locator("#stop").click()
    expect(answer).to_contain_text("(stopped)", timeout=30_000)
    stopped_at = answer.inner_text()
    time.sleep(1.5)
    assert answer.inner_text() == stopped_at, "the answer kept growing after Stop"
    assert len(stopped_at.split()) < 400  # far from the 600 tokens it was allowed
    wait_until_saved(page, question)


@pytest.mark.shared_data
def test_a_pdf_is_uploaded_and_the_answer_cites_its_file_and_page(page, ui_url):
    page.goto(ui_url)
    page.get_by_role("tab", name="Documents").click()
    add_files(page, [DOCS / "fake-memo.pdf", DOCS / "password.pdf"])
    status = page.locator("#ingest-status")
    expect(status).to_contain_text("1 added, 1 failed", timeout=ANSWER_TIMEOUT_MS)
    expect(status).to_contain_text("password.pdf")  # the bad file is named with its reason
    expect(status).to_contain_text("give their password")
    expect(page.locator("#doc-list")).to_contain_text("fake-memo.pdf")
    # with its password the encrypted PDF goes in
    page.locator("#upload-password input").fill("password")
    add_files(page, DOCS / "password.pdf")
    expect(status).to_contain_text("1 added, 0 failed", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#doc-list")).to_contain_text("password.pdf")
    page.get_by_role("tab", name="Chat").click()
    question = "How many trucks were used, and for how many hours?"
    ask(page, question)
    wait_until_saved(page, question)
    sources = page.locator("#chatbot-0 .sources")
    expect(sources).to_contain_text("fake-memo.pdf, page 1")
    expect(sources).to_contain_text("3 trucks")
    citation = page.locator("#chatbot-0 a.citation").first
    expect(citation).to_have_attribute("href", "#m0-1-1")
    expect(page.locator("#chatbot-0 li#m0-1-1")).to_contain_text("fake-memo.pdf")


def test_self_consistency_shows_progress_then_the_answer_and_its_candidates(page, ui_url):
    open_chat(page, ui_url)
    choose(page, "scaling-algorithm", "Self-consistency")
    # the temperature slider says 0: the page tells the temperature the mode really samples at
    expect(page.locator("#sampling-note")).to_contain_text("sampled at temperature 0.7")
    set_number(page, "scaling-budget", 4)
    record_texts(page, "#chatbot-0", contains="in progress")
    question = "What is 7 + 5?"
    ask(page, question)
    wait_until_saved(page, question)
    progress = seen_texts(page)
    assert progress and any("self-consistency:" in text and "/4 candidates" in text for text in progress)
    chatbot = page.locator("#chatbot-0")
    expect(chatbot).to_contain_text("self-consistency, budget 4: chose candidate")
    expect(chatbot).not_to_contain_text("in progress")
    chatbot.get_by_text("self-consistency, budget 4: chose candidate").click()  # expand the candidates
    expect(chatbot).to_contain_text("votes")


@pytest.mark.shared_data
def test_two_users_never_see_each_others_chats(pages, auth_ui_url):
    alice, bob = pages.new(), pages.new()
    login(alice, auth_ui_url, "alice", USERS["alice"])
    ask(alice, "Alice's secret question about tea")
    wait_until_saved(alice, "Alice's secret question about tea")

    login(bob, auth_ui_url, "bob", USERS["bob"])
    ask(bob, "Bob's question about bricks")
    wait_until_saved(bob, "Bob's question about bricks")
    expect(bob.locator("#saved-chats")).not_to_contain_text("Alice")

    alice.reload()
    expect(alice.locator("#saved-chats")).to_contain_text("Alice's secret question")
    expect(alice.locator("#saved-chats")).not_to_contain_text("Bob")

    # MyData is each user's own: what Alice adds there, Bob never sees
    alice.get_by_role("tab", name="Documents").click()
    choose(alice, "docs-collection", "MyData")
    add_files(alice, DOCS / "codeblock.md")
    expect(alice.locator("#ingest-status")).to_contain_text("MyData: 1 added", timeout=ANSWER_TIMEOUT_MS)
    expect(alice.locator("#doc-list")).to_contain_text("codeblock.md")
    bob.get_by_role("tab", name="Documents").click()
    choose(bob, "docs-collection", "MyData")
    expect(bob.locator("#doc-list")).not_to_contain_text("codeblock.md")


def test_a_wrong_password_is_refused(page, auth_ui_url):
    page.goto(auth_ui_url)
    page.get_by_label("username", exact=False).fill("alice")
    page.get_by_label("password", exact=False).fill("not-her-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Incorrect", exact=False)).to_be_visible()
    expect(page.locator("#question")).to_have_count(0)


def test_the_page_requests_only_loopback_hosts(pages, ui_url):
    page = pages.new()
    open_chat(page, ui_url)
    ask(page, "Hi")
    wait_until_saved(page, "Hi")
    page.get_by_role("tab", name="Documents").click()
    expect(page.locator("#doc-list")).to_be_visible()
    assert len(pages.requested) > 10  # the page, its scripts, styles and API calls were seen
    assert pages.outside_requests() == []


def test_a_saved_chat_is_renamed_exported_and_deleted(page, ui_url):
    open_chat(page, ui_url)
    question = "Name a fruit that is yellow."
    ask(page, question)
    wait_until_saved(page, question)
    page.locator("#chat-title textarea").fill("Yellow fruit")
    page.locator("#rename-chat").click()
    saved = page.locator("#saved-chats")
    expect(saved).to_contain_text("Yellow fruit")

    page.locator("#export-chats").click()
    with page.expect_download() as download:
        page.locator("#export-file a").first.click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    chat = next(c for c in exported["chats"] if c["title"] == "Yellow fruit")
    assert chat["messages"][0] == {"role": "user", "content": question}
    assert chat["messages"][1]["role"] == "assistant" and chat["messages"][1]["content"]

    page.locator("#delete-chat").click()
    expect(saved).not_to_contain_text("Yellow fruit")
    expect(page.locator("#chatbot-0 .message")).to_have_count(0)


@pytest.mark.shared_data
def test_a_new_collection_is_summarized_with_its_sources(page, ui_url):
    page.goto(ui_url)
    page.get_by_role("tab", name="Documents").click()
    page.get_by_label("New collection").fill("memos")
    page.locator("#create-collection").click()
    expect(page.locator("#docs-collection input")).to_have_value("memos")
    add_files(page, DOCS / "fake-memo.pdf")
    expect(page.locator("#ingest-status")).to_contain_text("memos: 1 added", timeout=ANSWER_TIMEOUT_MS)
    page.get_by_role("tab", name="Chat").click()
    expect(page.locator("#chat-collection input")).to_have_value("memos")  # the chat follows the upload
    page.get_by_label("Summarize").check()
    ask(page, "Summarize")
    wait_until_saved(page, "Summarize")
    answer = bot_messages(page).last
    expect(answer.locator(".sources")).to_contain_text("fake-memo.pdf, page 1")
    assert len(answer.inner_text().split("Sources")[0].split()) >= 3  # a summary was written
