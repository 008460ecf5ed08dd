"""Model compare (``--model_lock``) in the browser: two models side by side, one question
answered by both at once, the chat saved once and restored into both columns.

Model A is the session's embedded model; model B is a remote backend over the loopback fake
of tests/fake_upstream.py, whose chat answer is the last message's words reversed. The
``--model_lock`` flag itself (its errors, shared backends) is checked without a browser.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from gradio_utils.app import launch_ui
from h2ogpt.answering.model_lock import MAX_MODELS, locked_models
from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.selection import create_backend
from h2ogpt.core import build_pipelines
from h2ogpt.errors import ConfigError
from h2ogpt.persistence.accounts import Accounts
from h2ogpt.persistence.chats import ChatStore
from h2ogpt.settings import Settings
from support.fake_upstream import FakeUpstream
from support.ui_driver import ANSWER_TIMEOUT_MS, ask, bot_messages, wait_until_saved

REMOTE_NAME = "Fake upstream"
FIRST = "Which colours make green paint?"
SECOND = "And orange paint?"


def reversed_words(text: str) -> str:
    return " ".join(text.split()[::-1])


def shown(text: str, final: str) -> bool:
    """``text`` is (the start of) the answer ``final``, not a placeholder ("Loading content")."""
    return bool(text) and final.startswith(text)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def compare_settings(ui_settings: Settings, tmp_path_factory) -> Settings:
    from support.ui_driver import free_port

    return ui_settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("ui-compare-data"),
            "server_name": "127.0.0.1",
            "server_port": free_port(),
            "max_new_tokens": 128,  # long enough to still be streaming when model B starts
        }
    )


@pytest.fixture(scope="module")
def compare_ui(
    compare_settings: Settings, backend, fake: FakeUpstream
) -> Iterator[tuple[str, list[Pipeline]]]:
    remote = create_backend(compare_settings.model_copy(update={"inference_server": f"vllm_chat:{fake.url}"}))
    pipelines = [
        Pipeline(compare_settings, backend, documents=None),
        Pipeline(compare_settings, remote, documents=None, name=REMOTE_NAME),
    ]
    demo, url = launch_ui(compare_settings, pipelines, block=False)
    yield url, pipelines
    demo.close()
    remote.close()


def record_both(page) -> None:
    """Record (model A's, model B's) last answer text after every change of the page."""
    page.evaluate(
        """() => {
            window.snapshots = [];
            const last = (i) => {
                const nodes = document.querySelectorAll(`#chatbot-${i} .message.bot`);
                return nodes.length ? nodes[nodes.length - 1].innerText.trim() : '';
            };
            new MutationObserver(() => {
                const now = [last(0), last(1)];
                const prev = window.snapshots[window.snapshots.length - 1];
                if (!prev || prev[0] !== now[0] || prev[1] !== now[1]) window.snapshots.push(now);
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )


def wait_for_saved_messages(settings: Settings, count: int, timeout: float = 120) -> list[dict]:
    """The single saved chat's messages once it holds ``count`` of them (the answer is done)."""
    store, guest = ChatStore.for_settings(settings), Accounts.from_settings(settings).guest
    deadline = time.monotonic() + timeout
    while True:
        chats = store.list(guest)
        if chats and len(store.get(guest, chats[0].id).messages) >= count:
            return store.get(guest, chats[0].id).messages
        assert time.monotonic() < deadline, f"no saved chat with {count} messages: {chats}"
        time.sleep(0.2)


def test_two_models_answer_side_by_side_and_the_chat_reopens_in_both_columns(
    page, compare_ui, compare_settings, fake
):
    url, pipelines = compare_ui
    fake.reset()
    fake.state.token_delay = 0.1  # model B streams word by word, slowly enough to overlap A
    page.goto(url)

    # both chatbots, each labelled with its model; the header names both
    for index, pipeline in enumerate(pipelines):
        expect(page.locator(f"#chatbot-{index}")).to_contain_text(pipeline.name)
    expect(page.locator("#chatbot-2")).to_have_count(0)
    expect(page.locator("#model-in-use")).to_contain_text(REMOTE_NAME)
    expect(page.locator("#model-in-use")).to_contain_text(pipelines[0].name)

    record_both(page)
    ask(page, FIRST)
    for index in range(2):
        expect(page.locator(f"#chatbot-{index} .message.user")).to_have_text(FIRST)
    wait_until_saved(page, FIRST)

    answer_a = bot_messages(page, 0).last.inner_text().strip()
    answer_b = bot_messages(page, 1).last.inner_text().strip()
    assert answer_a, "the embedded model showed no answer"
    assert answer_a != answer_b
    assert answer_b == reversed_words(FIRST)
    expect(bot_messages(page, 0)).to_have_count(1)
    expect(bot_messages(page, 1)).to_have_count(1)

    # both streamed, at once: each answer was seen growing while the other one had shown
    # something and was not finished (one after the other would fail one of the two)
    snapshots = [tuple(s) for s in page.evaluate("window.snapshots")]
    partial_b = [b for _, b in snapshots if b != answer_b and shown(b, answer_b)]
    assert len(partial_b) >= 2, f"model B's answer did not stream: {snapshots}"
    b_began_before_a_ended = any(shown(b, answer_b) and a != answer_a for a, b in snapshots)
    a_began_before_b_ended = any(shown(a, answer_a) and b != answer_b for a, b in snapshots)
    assert b_began_before_a_ended and a_began_before_b_ended, f"not answered at once: {snapshots}"

    # the chat is saved once; model B got only its own question
    expect(page.locator("#saved-chats label")).to_have_count(1)
    expect(page.locator("#saved-chats label")).to_contain_text(FIRST)
    chats = fake.state.posts("/v1/chat/completions")
    assert len(chats) == 1 and chats[0].body["messages"][-1] == {"role": "user", "content": FIRST}

    # a fresh page shows no chat until the saved one is chosen, then both columns come back
    page.reload()
    expect(page.locator("#saved-chats label")).to_have_count(1)
    expect(page.locator("#chatbot-0 .message")).to_have_count(0)
    page.locator("#saved-chats label").filter(has_text=FIRST).click()
    for index, answer in enumerate((answer_a, answer_b)):
        expect(page.locator(f"#chatbot-{index} .message.user")).to_have_text(FIRST)
        expect(bot_messages(page, index)).to_have_count(1)
        expect(bot_messages(page, index).last).to_have_text(answer)
    expect(page.locator("#chat-title input, #chat-title textarea")).to_have_value(FIRST)

    # the reopened chat goes on: each model continues its own conversation, saved in place
    ask(page, SECOND)
    messages = wait_for_saved_messages(compare_settings, 4)
    expect(bot_messages(page, 1)).to_have_count(2)
    expect(bot_messages(page, 1).last).to_have_text(reversed_words(SECOND), timeout=ANSWER_TIMEOUT_MS)
    expect(bot_messages(page, 0)).to_have_count(2)
    expect(page.locator("#saved-chats label")).to_have_count(1)
    history = fake.state.posts("/v1/chat/completions")[-1].body["messages"]
    assert [m for m in history if m["role"] != "system"] == [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": answer_b},
        {"role": "user", "content": SECOND},
    ]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["model"] == pipelines[0].name and messages[1]["content"] == answer_a
    assert [o["model"] for o in messages[3]["others"]] == [REMOTE_NAME]
    assert messages[3]["others"][0]["content"] == reversed_words(SECOND)


# --- the --model_lock flag (no browser) ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('[{"base_model": "a"', "not valid JSON"),
        ('{"base_model": "a"}', "JSON list of objects"),
        ("[]", "JSON list of objects"),
        ('["a", "b"]', "JSON list of objects"),
        (json.dumps([{"name": f"m{i}"} for i in range(MAX_MODELS + 1)]), f"at most {MAX_MODELS} models"),
        ('[{"base_model": "a"}, {"model": "b"}]', "model 2 has unknown keys model"),
        ('[{"max_seq_len": "lots"}]', "model 1"),
    ],
)
def test_model_lock_errors_name_the_flag(value: str, says: str, tmp_path):
    settings = Settings(data_dir=tmp_path, model_lock=value)
    with pytest.raises(ConfigError) as caught:
        locked_models(settings)
    message = str(caught.value)
    assert message.startswith("--model_lock:") and says in message, message


def test_model_lock_entries_take_the_other_flags_and_their_own(tmp_path):
    base = Settings(data_dir=tmp_path, max_new_tokens=16)
    assert locked_models(base) == [(None, base)]
    lock = json.dumps([{"base_model": "x", "name": "X"}, {"inference_server": "http://127.0.0.1:9/v1"}])
    (name_x, x), (name_y, y) = locked_models(base.model_copy(update={"model_lock": lock}))
    assert (name_x, x.base_model, x.max_new_tokens, x.model_lock) == ("X", "x", 16, "")
    assert (name_y, y.base_model, y.inference_server) == (None, base.base_model, "http://127.0.0.1:9/v1")


def test_entries_naming_the_same_model_share_one_backend(fake: FakeUpstream, tmp_path):
    fake.reset()
    same = f"vllm_chat:{fake.url}"
    lock = [
        {"inference_server": same, "name": "first"},
        {"inference_server": same, "name": "second"},
        {"inference_server": fake.url, "name": "other"},  # the same server, another kind: its own
    ]
    settings = Settings(data_dir=tmp_path, langchain_mode="LLM", model_lock=json.dumps(lock))
    pipelines = build_pipelines(settings)
    try:
        assert [p.name for p in pipelines] == ["first", "second", "other"]
        assert pipelines[0].backend is pipelines[1].backend
        assert pipelines[2].backend is not pipelines[0].backend
        assert all(p.documents is None for p in pipelines)
        assert len(fake.state.requests) == 2  # one GET /models per backend created
    finally:
        for backend in {id(p.backend): p.backend for p in pipelines}.values():
            backend.close()
