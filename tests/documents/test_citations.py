"""Grounded prompts, source budgets and citation attribution."""

from __future__ import annotations

from dataclasses import dataclass

from h2ogpt.documents.citations import attribute, fit_sources, grounded_question, number_hits, with_citations


@dataclass
class FakeHit:  # the fields retrieval returns; plain data, not a stand-in for our code
    text: str
    source: str
    page: int | None
    score: float
    chunk_id: str


HITS = [
    FakeHit("The memo says a total of 3 trucks were used for 15 hours.", "docs/memo.pdf", 1, 0.9, "a"),
    FakeHit("Stanley Cup winners are listed by season.", "docs/cups.xlsx", 2, 0.5, "b"),
    FakeHit("Water bottles: 20,000; blankets: 10,000.", "docs/memo.pdf", 1, 0.4, "c"),
]


def test_sources_are_numbered_and_labelled_in_the_prompt():
    sources = number_hits(HITS)
    prompt = grounded_question("How many trucks?", sources)
    assert "[1] (memo.pdf, page 1)" in prompt and "[2] (cups.xlsx, page 2)" in prompt
    assert prompt.endswith("Question: How many trucks?")


def test_sources_are_kept_in_rank_order_within_the_budget():
    sources = number_hits(HITS)
    count = lambda text: len(text.split())  # noqa: E731
    assert [s.number for s in fit_sources(sources, 61, count)] == [1, 2, 3]
    assert [s.number for s in fit_sources(sources, 60, count)] == [1, 2]
    assert [s.number for s in fit_sources(sources, 28, count)] == [1]
    tiny = fit_sources(sources, 16, count)
    assert [s.number for s in tiny] == [1] and len(tiny[0].text.split()) < len(HITS[0].text.split())


def test_explicit_citations_win():
    sources = number_hits(HITS)
    assert [s.number for s in attribute("Three trucks [1], see also [3] and [9].", sources)] == [1, 3]


def test_uncited_answers_are_attributed_by_shared_words():
    sources = number_hits(HITS)
    cited = attribute("They used 20,000 water bottles.", sources)
    assert [s.number for s in cited] == [3]
    assert with_citations("They used 20,000 water bottles.", cited) == "They used 20,000 water bottles. [3]"
    assert [s.number for s in attribute("Yes.", sources)] == [1]
    assert attribute("anything", []) == []
