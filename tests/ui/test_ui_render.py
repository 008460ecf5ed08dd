"""The browser UI's pure parts, without a browser or a model: rendering conversations
(citations, sources, scaling candidates, progress), what the model sees of a conversation,
multi-model chats saved and restored, and the request fields built from the controls."""

from __future__ import annotations

import html

import pytest

from gradio_utils.chat_controls import request_fields
from gradio_utils.chat_view import _saved_messages, conversations_from_saved
from gradio_utils.render import (
    SNIPPET_CHARS,
    answer_content,
    candidates_markdown,
    chatbot_messages,
    describe_scaling,
    linked_citations,
    model_history,
    progress_text,
    scaling_record,
    source_record,
    sources_html,
)
from h2ogpt.documents.citations import CitedSource
from h2ogpt.persistence.chats import ChatStore
from h2ogpt.request import AnswerRequest, ChatMessage
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult, ScalingUsage
from h2ogpt.settings import NO_DOCUMENTS


def source(number: int, name: str = "/docs/memo.pdf", page: int | None = 1, text: str = "a chunk") -> dict:
    return source_record(CitedSource(number, name, page, 0.5, text, f"chunk-{number}"))


# --- citations and sources -------------------------------------------------------------------


def test_only_citations_of_listed_sources_become_links():
    text = "Trucks [1], hours [2], cost [10], year [1999], list [x]."
    linked = linked_citations(text, "m0-1", {1, 10})
    assert '<a href="#m0-1-1" class="citation">[1]</a>' in linked
    assert '<a href="#m0-1-10" class="citation">[10]</a>' in linked
    assert "hours [2]," in linked and "year [1999]," in linked and "list [x]" in linked
    assert linked.count("<a ") == 2


def test_an_answer_links_its_citations_and_lists_its_sources_under_it():
    message = {"role": "assistant", "content": "Three trucks [1] for five hours [3].", "sources": [source(1)]}
    shown = answer_content(message, "m1-3")
    assert shown.startswith('Three trucks <a href="#m1-3-1" class="citation">[1]</a> for five hours [3].')
    assert '<li id="m1-3-1"><b>[1]</b> <b>memo.pdf, page 1</b>: <i>a chunk</i></li>' in shown
    # without sources nothing is linked and no block is added
    plain = answer_content({"role": "assistant", "content": "See [1]."}, "m0-1")
    assert plain == "See [1]."


def test_sources_escape_file_names_and_snippets_and_cut_long_snippets():
    evil = source(
        1, name="/up/<img src=x onerror=alert(1)>.pdf", page=None, text="<script>x()</script> & more"
    )
    long_text = "word " * 200
    block = sources_html([evil, source(2, text=long_text)], "m0-1")
    assert "<script>" not in block and "<img" not in block
    assert html.escape("<img src=x onerror=alert(1)>.pdf") in block  # the name, shown as text, no page
    assert "&lt;script&gt;x()&lt;/script&gt; &amp; more" in block
    second = block.split('<li id="m0-1-2">', 1)[1]
    snippet = second.split("<i>", 1)[1].split("</i>", 1)[0]
    assert snippet.endswith("…") and len(snippet) <= SNIPPET_CHARS + 1
    assert snippet[:-1] == " ".join(long_text.split())[:SNIPPET_CHARS].rstrip()
    assert "memo.pdf, page 1" in second


def test_an_error_or_a_stopped_answer_says_so():
    error = {"role": "assistant", "content": "the server is down", "error": True, "sources": [source(1)]}
    assert answer_content(error, "m0-1") == "**Error:** the server is down"
    stopped = {"role": "assistant", "content": "Once upon [1]", "stopped": True, "sources": [source(1)]}
    shown = answer_content(stopped, "m0-1")
    assert shown.index("*(stopped)*") < shown.index('<div class="sources">')


# --- what the model sees ---------------------------------------------------------------------


def test_model_history_drops_failed_questions_with_their_error():
    conversation = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "model": "m", "sources": [source(1)]},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "upstream down", "error": True},
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": "a3 half", "stopped": True},
        {"role": "user", "content": "q4"},  # the question being asked now
    ]
    assert model_history(conversation) == [
        ChatMessage(role="user", content="q1"),
        ChatMessage(role="assistant", content="a1"),
        ChatMessage(role="user", content="q3"),
        ChatMessage(role="assistant", content="a3 half"),
        ChatMessage(role="user", content="q4"),
    ]


# --- scaling ---------------------------------------------------------------------------------


def voted() -> dict:
    return scaling_record(
        ScalingResult(
            algorithm="self-consistency",
            budget=3,
            candidates=[
                Candidate("so 11", answer="11"),
                Candidate("it is 12", answer="12"),
                Candidate("12!", answer="12"),
            ],
            selected_index=1,
            usage=ScalingUsage(),
            votes={"12": 2, "11": 1},
        )
    )


def scored(stopped_early: bool = False) -> dict:
    return scaling_record(
        ScalingResult(
            algorithm="best-of-n",
            budget=2,
            candidates=[Candidate("first <b>", score=0.25), Candidate("second", score=0.87654)],
            selected_index=1,
            usage=ScalingUsage(),
            stopped_early=stopped_early,
        )
    )


def test_describe_scaling_says_what_was_chosen_and_why():
    assert describe_scaling(voted()) == "self-consistency, budget 3: chose candidate 2 of 3 (2 votes)"
    assert describe_scaling(scored()) == "best-of-n, budget 2: chose candidate 2 of 2 (score 0.877)"
    assert describe_scaling(scored(stopped_early=True)).endswith("(score 0.877, stopped early)")
    unscored = {**scored(), "candidates": [{"text": "only", "answer": None, "score": None, "steps": None}]}
    unscored["selected_index"] = 0
    assert describe_scaling(unscored).endswith("chose candidate 1 of 1 (selected)")


def test_candidates_list_each_one_with_its_votes_or_score():
    lines = candidates_markdown(voted()).split("\n\n")
    assert lines[0] == "1. answer `11` (1 votes)"
    assert lines[2] == "2. **chosen** · answer `12` (2 votes)"
    scored_lines = candidates_markdown(scored())
    assert "1. score 0.250\n\n   > first &lt;b&gt;" in scored_lines
    assert "2. **chosen** · score 0.877" in scored_lines


def test_progress_text_counts_candidates_or_steps_and_names_the_leaders():
    votes = ScalingProgress("self-consistency", 2, 6, votes={"a": 1, "b": 3, "c": 2, "d": 1, "e": 1})
    assert progress_text(votes) == "self-consistency: 2/6 candidates · votes b: 3, c: 2, a: 1, d: 1"
    steps = ScalingProgress("beam-search", 1, 4, leader="x" * 100, step=1, weights=(0.5, 0.25, 0.125))
    assert progress_text(steps) == f"beam-search: 1/4 steps · leader: {'x' * 60} · weights 0.50 0.25 0.12"
    assert progress_text(ScalingProgress("best-of-n", 0, 4)) == "best-of-n: 0/4 candidates"


def test_chatbot_messages_show_candidates_before_the_answer_and_progress_last():
    conversation = [
        {"role": "user", "content": "What is 7 + 5?"},
        {"role": "assistant", "content": "It is 12 [1]", "scaling": voted(), "sources": [source(1)]},
        {"role": "user", "content": "And 6 + 6?"},
    ]
    shown = chatbot_messages(conversation, "m1-", ScalingProgress("self-consistency", 1, 3))
    assert [m["role"] for m in shown] == ["user", "assistant", "assistant", "user", "assistant"]
    assert shown[1]["metadata"] == {"title": describe_scaling(voted()), "status": "done"}
    assert '<a href="#m1-1-1" class="citation">[1]</a>' in shown[2]["content"]
    assert shown[4]["metadata"]["status"] == "pending" and shown[4]["content"].startswith(
        "self-consistency: 1/3"
    )
    assert "metadata" not in shown[0] and shown[3] == {"role": "user", "content": "And 6 + 6?"}


# --- multi-model chats, saved and restored ---------------------------------------------------


def three_models() -> list[list[dict]]:
    def turn(q: str, answers: list[dict]) -> list[list[dict]]:
        return [[{"role": "user", "content": q}, a] for a in answers]

    first = turn(
        "q1",
        [
            {"role": "assistant", "content": "A1 [1]", "model": "A", "sources": [source(1)]},
            {"role": "assistant", "content": "B1", "model": "B"},
            {"role": "assistant", "content": "C is down", "model": "C", "error": True},
        ],
    )
    second = turn(
        "q2",
        [
            {"role": "assistant", "content": "A2", "model": "A", "stopped": True},
            {"role": "assistant", "content": "B2", "model": "B", "scaling": voted()},
            {"role": "assistant", "content": "C2", "model": "C"},
        ],
    )
    return [f + s for f, s in zip(first, second, strict=True)]


def test_a_multi_model_chat_is_saved_as_one_and_restored_column_by_column(tmp_path):
    conversations = three_models()
    saved = _saved_messages(conversations)
    assert [m["content"] for m in saved] == ["q1", "A1 [1]", "q2", "A2"]
    assert [o["model"] for o in saved[1]["others"]] == ["B", "C"]
    assert "others" not in saved[0] and "others" not in conversations[0][1]  # the columns are not changed
    store = ChatStore(tmp_path / "chats.sqlite")
    chat = store.save("guest", saved)
    restored = conversations_from_saved(store.get("guest", chat.id).messages, 3)
    assert restored == conversations
    assert chat.title == "q1"


def test_a_single_model_chat_is_saved_as_is():
    conversation = three_models()[:1]
    assert _saved_messages(conversation) == conversation[0]
    assert conversations_from_saved(conversation[0], 1) == conversation


def test_a_multi_model_chat_opened_with_fewer_models_keeps_the_first_ones():
    saved = _saved_messages(three_models())
    assert conversations_from_saved(saved, 2) == three_models()[:2]


# --- request fields from the controls --------------------------------------------------------


def controls(**changes) -> dict:
    values = dict(
        scaling_algorithm="none",
        budget=8.0,
        collection=None,
        action="Query",
        document_choice=None,
        system_prompt="auto",
        temperature=0.3,
        top_p=0.9,
        top_k=40.0,
        max_new_tokens=16.0,
        repetition_penalty=1.05,
        seed=0,
    )
    return {**values, **changes}


def test_request_fields_from_default_controls():
    fields = request_fields(**controls())
    assert fields["seed"] is None  # 0: a fresh seed each time
    assert fields["collection"] == NO_DOCUMENTS
    assert "budget" not in fields
    assert fields["document_choice"] == [] and fields["langchain_action"] == "Query"
    assert (fields["top_k"], fields["max_new_tokens"]) == (40, 16)
    assert isinstance(fields["top_k"], int) and isinstance(fields["max_new_tokens"], int)
    request = AnswerRequest(messages=[ChatMessage(role="user", content="hi")], **fields)
    assert request.budget is None and request.seed is None


@pytest.mark.parametrize("algorithm", ["self-consistency", "best-of-n", "particle-gibbs"])
def test_request_fields_carry_the_budget_only_with_a_scaling_algorithm(algorithm):
    fields = request_fields(
        **controls(scaling_algorithm=algorithm, seed=7.0, collection="UserData", document_choice=["a.pdf"])
    )
    assert (fields["scaling_algorithm"], fields["budget"], fields["seed"]) == (algorithm, 8, 7)
    assert (fields["collection"], fields["document_choice"]) == ("UserData", ["a.pdf"])
    assert AnswerRequest(messages=[ChatMessage(role="user", content="hi")], **fields).budget == 8
    assert request_fields(**controls(seed=None))["seed"] is None


def test_a_one_model_chat_continued_by_two_models_keeps_every_answer_in_its_column():
    saved = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]
    columns = conversations_from_saved(saved, models=2)
    assert columns[1][1]["error"]  # no answer from the second model: a placeholder keeps the turn
    assert model_history(columns[1]) == []  # and the unanswered question is not sent again
    for column, answer in zip(columns, ("a2", "b2"), strict=True):
        column += [{"role": "user", "content": "q2"}, {"role": "assistant", "content": answer}]
    reopened = conversations_from_saved(_saved_messages(columns), models=2)
    assert [m["content"] for m in reopened[0]] == ["q1", "a1", "q2", "a2"]
    assert [m["content"] for m in reopened[1] if not m.get("error")] == ["q1", "q2", "b2"]
    assert [m.content for m in model_history(reopened[1])] == ["q2", "b2"]
