"""Answers from documents through the pipeline: sources, citations, Summarize, Extract."""

from __future__ import annotations

import collections
import json
import re

import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.events import ErrorEvent, FinalAnswer, SourcesFound, TokenDelta
from h2ogpt.request import AnswerRequest
from support.paths import SHARED_DATA

DOCS = SHARED_DATA / "docs"
SEC = SHARED_DATA / "sec10q_pdf_qa"


def ask(pipeline, question, user=None, **fields):
    events = list(
        pipeline.answer(AnswerRequest.from_prompt(question, max_new_tokens=48, **fields), user=user)
    )
    assert not any(isinstance(e, ErrorEvent) for e in events), events[-1]
    found = [e for e in events if isinstance(e, SourcesFound)]
    return (
        found[0] if found else None,
        events[-1],
        "".join(e.text for e in events if isinstance(e, TokenDelta)),
    )


@pytest.fixture(scope="module")
def doc_settings(settings, tmp_path_factory):
    return settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("docqa"), "top_k_docs": 4})


@pytest.fixture(scope="module")
def store(doc_settings):
    store = DocumentLibrary(doc_settings)
    report = store.ingest([DOCS / "fake-memo.pdf", DOCS / "stanley-cups.xlsx"], collection="UserData")
    assert not report.failed
    yield store
    store.close()


@pytest.fixture(scope="module")
def doc_pipeline(doc_settings, backend, store):
    return Pipeline(doc_settings, backend, store)


@pytest.mark.shared_data
def test_query_cites_the_file_and_page_it_used(doc_pipeline):
    found, final, streamed = ask(doc_pipeline, "How many trucks were used, and for how many hours?")
    assert isinstance(final, FinalAnswer) and found.collection == "UserData"
    assert found.sources[0].source.endswith("fake-memo.pdf") and found.sources[0].page == 1
    assert final.sources and final.sources[0].source.endswith("fake-memo.pdf")
    assert re.search(r"\[\d\]", final.text) and streamed == final.text
    assert "3 trucks" in found.sources[0].text  # the right passage reached the model (its reading is its own)


@pytest.mark.shared_data
def test_nothing_relevant_says_so_instead_of_inventing(doc_pipeline):
    found, final, _ = ask(doc_pipeline, "What is the boiling point of liquid nitrogen in kelvin?")
    assert found.sources == [] and final.sources == []
    assert "found nothing" in final.text and final.usage.completion_tokens == 0


@pytest.mark.shared_data
def test_document_choice_limits_the_sources(doc_pipeline, store):
    cups = [d.source for d in store.list_documents("UserData") if d.source.endswith(".xlsx")]
    found, _, _ = ask(doc_pipeline, "Who won the Stanley Cup?", document_choice=cups)
    assert found.sources and all(s.source.endswith("stanley-cups.xlsx") for s in found.sources)


@pytest.mark.shared_data
def test_plain_chat_with_llm_mode_uses_no_documents(doc_pipeline):
    found, final, _ = ask(doc_pipeline, "What is the capital of Japan?", collection="LLM")
    assert found is None and "Tokyo" in final.text


@pytest.mark.shared_data
def test_unknown_collection_is_a_clear_error(doc_pipeline):
    events = list(doc_pipeline.answer(AnswerRequest.from_prompt("hi", collection="NoSuchOne")))
    assert isinstance(events[-1], ErrorEvent) and "no such collection" in events[-1].message


@pytest.mark.shared_data
def test_summarize_reads_the_chosen_document(doc_pipeline, store):
    memo = [d.source for d in store.list_documents("UserData") if d.source.endswith(".pdf")]
    found, final, _ = ask(doc_pipeline, "Summarize", langchain_action="Summarize", document_choice=memo)
    assert final.text.strip() and all(s.source.endswith("fake-memo.pdf") for s in found.sources)
    assert final.usage.completion_tokens > 0


@pytest.mark.shared_data
def test_extract_lists_cited_findings(doc_pipeline):
    _, final, _ = ask(doc_pipeline, "How many trucks were used?", langchain_action="Extract")
    lines = final.text.splitlines()
    assert lines and all(re.search(r"\[\d+\]$", line) for line in lines)


@pytest.mark.shared_data
def test_private_collections_stay_private(doc_settings, backend, store, tmp_path):
    note = tmp_path / "secret.txt"
    note.write_text("Alice's locker code is 4711.")
    store.ingest([note], collection="MyData", user="alice")
    pipeline = Pipeline(doc_settings, backend, store)
    alice, _, _ = ask(pipeline, "What is the locker code?", user="alice", collection="MyData")
    bob, _, _ = ask(pipeline, "What is the locker code?", user="bob", collection="MyData")
    assert any("4711" in s.text for s in alice.sources)
    assert not any("4711" in s.text for s in bob.sources)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in re.findall(r"\d[\d,]{2,}(?:\.\d+)?", text)}


@pytest.mark.shared_data
@pytest.mark.slow
def test_sec10q_answers_cite_the_right_file_and_page(settings, backend, tmp_path_factory):
    """Questions about one filing (chosen as a user picks a document): the first cited source
    is that file, on a page whose text holds a figure of the reviewed reference answer."""
    qa = [json.loads(line) for line in (SEC / "qa.jsonl").read_text().splitlines()]
    single = [
        q for q in qa
        if q["question_type"] == "Single-Doc Single-Chunk RAG" and len(q["source_docs"]) == 1 and _numbers(q["answer"])
    ]  # fmt: skip
    by_file = collections.Counter(q["source_docs"][0] for q in single)
    filing = SEC / "docs" / by_file.most_common(1)[0][0]
    questions = [q for q in single if q["source_docs"][0] == filing.name]
    doc_settings = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("sec"), "top_k_docs": 4})
    store = DocumentLibrary(doc_settings)
    report = store.ingest([filing], collection="UserData")
    (document,) = store.list_documents("UserData")
    assert not report.failed and document.pages > 20
    pipeline = Pipeline(doc_settings, backend, store)
    right = 0
    for item in questions:
        _, final, _ = ask(pipeline, item["question"], document_choice=[document.source])
        cited = final.sources[0]  # a chunk of one page: its text must hold a figure of the answer
        right += cited.source == document.source and bool(_numbers(cited.text) & _numbers(item["answer"]))
    store.close()
    assert right >= 0.75 * len(questions), f"{right} of {len(questions)} cited the right file and page"
