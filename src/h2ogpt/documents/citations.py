"""Answers grounded in retrieved documents: numbered sources in, [n] citations out.

The prompt lists the retrieved chunks as numbered sources and asks for an answer that
cites them. Small models often forget to cite, so citations are also attributed after
the fact: the sources whose words the answer actually uses are cited (see
``attribute``). When no retrieved chunk is relevant to the question, the answer says so
instead of inventing one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

QUERY_INSTRUCTIONS = (
    "Answer the question using only the numbered sources below. Cite the sources you use "
    "as [1], [2]. If the sources do not contain the answer, say that the documents do not say."
)
SUMMARIZE_PROMPT = "Write a concise summary of the following text.\n\n{text}"
COMBINE_PROMPT = "Combine these partial summaries into one concise summary.\n\n{text}"
EXTRACT_PROMPT = "{instruction}\n\nUse only this text and answer briefly:\n\n{text}"
DEFAULT_EXTRACT = "Extract the key facts."
NOT_FOUND = (
    "I found nothing about this in the documents of the collection '{collection}', so I cannot "
    "answer it from them."
)
MIN_RELEVANCE = 0.2  # cosine similarity of question and best chunk below which nothing is relevant
_CITATION = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "were",
        "which",
        "with",
        "what",
        "who",
        "how",
        "when",
        "where",
        "why",
        "does",
        "did",
        "do",
        "not",
        "no",
    ]
)


class Hit(Protocol):
    """What retrieval hands over (``h2ogpt.documents.SearchHit``); a chunk of an audio or video
    transcript also has ``start`` and ``end`` (seconds)."""

    text: str
    source: str
    page: int | None
    score: float
    chunk_id: str


def clock(seconds: float, hours: bool = False) -> str:
    """``mm:ss``, or ``hh:mm:ss`` when ``hours``."""
    whole = max(int(seconds), 0)
    minutes, secs = divmod(whole, 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def time_span(start: float, end: float) -> str:
    """A transcript chunk's time in a recording: ``01:32-01:58``, ``01:02:03-01:02:40`` past an hour
    (the start rounded down and the end up, so the span covers the speech)."""
    start, end = math.floor(start), math.ceil(max(end, start))
    hours = end >= 3600
    return f"{clock(start, hours)}-{clock(end, hours)}"


def source_label(
    source: str, page: int | None = None, start: float | None = None, end: float | None = None
) -> str:
    """How a cited source is named: ``report.pdf, page 3``, ``meeting.mp3, 01:32-01:58`` or the file name."""
    name = source.rsplit("/", 1)[-1]
    if start is not None and end is not None:
        return f"{name}, {time_span(start, end)}"
    return f"{name}, page {page}" if page is not None else name


@dataclass(frozen=True)
class CitedSource:
    """A retrieved chunk as shown to the model and to the user: ``[number]``. ``start`` and
    ``end`` (seconds) place a chunk of an audio or video transcript in its recording."""

    number: int
    source: str
    page: int | None
    score: float
    text: str
    chunk_id: str
    start: float | None = None
    end: float | None = None

    @property
    def label(self) -> str:
        return source_label(self.source, self.page, self.start, self.end)


def number_hits(hits: Sequence[Hit]) -> list[CitedSource]:
    return [
        CitedSource(
            i,
            h.source,
            h.page,
            h.score,
            h.text,
            h.chunk_id,
            getattr(h, "start", None),
            getattr(h, "end", None),
        )
        for i, h in enumerate(hits, 1)
    ]


def sources_block(sources: Sequence[CitedSource]) -> str:
    return "\n\n".join(f"[{s.number}] ({s.label})\n{s.text.strip()}" for s in sources)


def grounded_question(question: str, sources: Sequence[CitedSource]) -> str:
    """The user turn that carries the sources and the question."""
    return f"{QUERY_INSTRUCTIONS}\n\nSources:\n\n{sources_block(sources)}\n\nQuestion: {question}"


def fit_sources(
    sources: Sequence[CitedSource], budget_tokens: int, count_tokens: Callable[[str], int]
) -> list[CitedSource]:
    """The best-ranked sources whose text fits ``budget_tokens`` (at least the first one, cut)."""
    kept: list[CitedSource] = []
    used = 0
    for source in sources:
        size = count_tokens(source.text) + 12  # its "[n] (label)" line and spacing
        if used + size > budget_tokens:
            break
        kept.append(source)
        used += size
    if not kept and sources:
        first = sources[0]
        words = first.text.split()
        while words and count_tokens(" ".join(words)) + 12 > budget_tokens:
            words = words[: max(1, int(len(words) * 0.8))] if len(words) > 1 else []
        kept = [replace(first, text=" ".join(words))]
    return kept


def _content_words(text: str) -> set[str]:
    return {
        w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOPWORDS and len(w) > 1
    }


def attribute(answer: str, sources: Sequence[CitedSource]) -> list[CitedSource]:
    """The sources an answer rests on: those it cites as [n]; when it cites none, those
    sharing the most content words with it (the best-ranked on a tie)."""
    by_number = {s.number: s for s in sources}
    cited = [by_number[n] for n in dict.fromkeys(int(m) for m in _CITATION.findall(answer)) if n in by_number]
    if cited or not sources:
        return cited
    words = _content_words(answer)
    overlaps = [(len(words & _content_words(s.text)), -s.number, s) for s in sources]
    best = max(overlaps, key=lambda item: item[:2])
    return [best[2]] if best[0] > 0 else [sources[0]]


def with_citations(answer: str, cited: Sequence[CitedSource]) -> str:
    """The answer, with ``[n]`` markers appended for attributed sources it does not cite."""
    missing = [s for s in cited if f"[{s.number}]" not in answer]
    if not missing:
        return answer
    return answer.rstrip() + " " + "".join(f"[{s.number}]" for s in missing)
