"""Answering from a document collection: Query, Summarize and Extract.

Query retrieves the best chunks, grounds the answer in them and cites them. Summarize
maps over the chosen documents' chunks in one batched call, then combines the partial
summaries into the streamed answer. Extract asks the question of each retrieved chunk
(one batch) and lists what each one says, cited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from h2ogpt.answering.prompting import Message, render_prompt
from h2ogpt.backends.base import Backend, Completion, SamplingParams
from h2ogpt.documents.citations import (
    COMBINE_PROMPT,
    DEFAULT_EXTRACT,
    EXTRACT_PROMPT,
    MIN_RELEVANCE,
    NOT_FOUND,
    SUMMARIZE_PROMPT,
    CitedSource,
    attribute,
    fit_sources,
    grounded_question,
    number_hits,
    with_citations,
)
from h2ogpt.errors import RequestError
from h2ogpt.events import Choice, Event, FinalAnswer, SourcesFound, TokenDelta, Usage
from h2ogpt.request import AnswerRequest

if TYPE_CHECKING:
    from h2ogpt.documents.library import DocumentLibrary

MAX_SUMMARY_CHUNKS = 64  # chunks a Summarize reads (in document order) before it stops
PROMPT_RESERVE = 96  # tokens kept free for instructions, labels and the chat template

Chat = Callable[[AnswerRequest, list[Message]], Iterator[Event]]


class DocumentQA:
    """One request answered from one collection, through the pipeline's chat generation."""

    def __init__(
        self, store: DocumentLibrary, backend: Backend, chat: Chat, collection: str, user: str | None
    ):
        self.store = store
        self.backend = backend
        self.chat = chat
        self.collection = collection
        self.user = user

    def run(self, request: AnswerRequest, params: SamplingParams) -> Iterator[Event]:
        question = request.messages[-1].content if request.messages else ""
        if request.langchain_action == "Summarize":
            yield from self._summarize(request, params)
        elif request.langchain_action == "Extract":
            yield from self._extract(request, params, question or DEFAULT_EXTRACT)
        else:
            yield from self._query(request, params, question)

    # --- Query ---------------------------------------------------------------------------
    def _retrieve(self, request: AnswerRequest, question: str) -> list[CitedSource]:
        hits = self.store.search(
            self.collection, question, request.top_k_docs, request.document_choice or None, user=self.user
        )
        return number_hits(hits) if hits and self._relevant(question, hits) else []

    def _relevant(self, question: str, hits: Sequence) -> bool:
        """Whether any of the best chunks is about the question at all (embedding cosine)."""
        vectors = self.store.embedder.embed([question, *(h.text for h in hits[:3])])
        query = vectors[0]
        return max(sum(a * b for a, b in zip(query, v, strict=True)) for v in vectors[1:]) >= MIN_RELEVANCE

    def _query(self, request: AnswerRequest, params: SamplingParams, question: str) -> Iterator[Event]:
        sources = self._retrieve(request, question)
        if not sources:
            yield SourcesFound(self.collection, [])
            yield from self._fixed_answer(NOT_FOUND.format(collection=self.collection))
            return
        history = [m.as_message() for m in request.messages[:-1]]
        budget = self.backend.info.context_length - params.max_new_tokens - PROMPT_RESERVE
        budget -= sum(self.backend.count_tokens(m["content"]) for m in history) + self.backend.count_tokens(
            question
        )
        sources = fit_sources(sources, max(budget, 64), self.backend.count_tokens)
        yield SourcesFound(self.collection, sources)
        last = {**request.messages[-1].as_message(), "content": grounded_question(question, sources)}
        messages = [*history, last]  # the question's images (for a chat model that sees) stay with it
        yield from self._cited(self.chat(request, messages), sources)

    def _cited(self, events: Iterator[Event], sources: list[CitedSource]) -> Iterator[Event]:
        """Pass the chat's events on; the final answer gets its citations attributed."""
        for event in events:
            if not isinstance(event, FinalAnswer):
                yield event
                continue
            choices, first_cited = [], []
            for choice in event.choices:
                cited = attribute(choice.text, sources)
                text = with_citations(choice.text, cited)
                if len(text) > len(choice.text):
                    yield TokenDelta(text[len(choice.text) :], choice.index)
                choices.append(Choice(choice.index, text, choice.finish_reason, choice.logprobs))
                first_cited = first_cited or cited
            yield FinalAnswer(choices, event.usage, event.model, event.trim, first_cited)

    def _fixed_answer(
        self, text: str, sources: list[CitedSource] | None = None, usage: Usage | None = None
    ) -> Iterator[Event]:
        """An answer made without streaming generation (a message, or batched map results)."""
        yield TokenDelta(text)
        yield FinalAnswer(
            [Choice(0, text, "stop")], usage or Usage(0, 0), self.backend.info.name, None, sources or []
        )

    # --- Summarize and Extract -----------------------------------------------------------
    def _map(self, prompts: list[str], params: SamplingParams) -> tuple[list[str], Usage]:
        """Answer many single-turn prompts in one batch (their own chat each)."""
        if self.backend.info.chat_native:
            outputs = [  # a chat server renders each prompt itself
                next(
                    e
                    for e in self.backend.stream_chat([{"role": "user", "content": p}], params)
                    if isinstance(e, Completion)
                )
                for p in prompts
            ]
        else:
            texts = [render_prompt(self.backend, [{"role": "user", "content": p}]).text for p in prompts]
            outputs = self.backend.continue_texts(texts, params)
        usage = Usage(sum(o.prompt_tokens for o in outputs), sum(o.completion_tokens for o in outputs))
        return [o.text.strip() for o in outputs], usage

    def _groups(self, chunks: Sequence[CitedSource], params: SamplingParams) -> list[list[CitedSource]]:
        """Consecutive chunks packed into prompts that fit the context."""
        room = self.backend.info.context_length - params.max_new_tokens - PROMPT_RESERVE
        groups: list[list[CitedSource]] = [[]]
        used = 0
        for chunk in chunks:
            size = self.backend.count_tokens(chunk.text)
            if groups[-1] and used + size > room:
                groups.append([])
                used = 0
            groups[-1].append(chunk)
            used += size
        return [g for g in groups if g]

    def _summarize(self, request: AnswerRequest, params: SamplingParams) -> Iterator[Event]:
        hits = self.store.document_chunks(
            self.collection, request.document_choice or None, user=self.user, limit=MAX_SUMMARY_CHUNKS
        )
        if not hits:
            raise RequestError(f"collection '{self.collection}' has no documents to summarize")
        chunks = number_hits(hits)
        yield SourcesFound(self.collection, chunks)
        groups = self._groups(chunks, params)
        partials, usage = self._map(
            [SUMMARIZE_PROMPT.format(text="\n\n".join(c.text for c in g)) for g in groups], params
        )
        if len(partials) == 1:
            yield from self._fixed_answer(partials[0], chunks, usage)
            return
        combine = COMBINE_PROMPT.format(text="\n\n".join(f"- {p}" for p in partials))
        for event in self.chat(request, [{"role": "user", "content": combine}]):
            if isinstance(event, FinalAnswer):
                total = Usage(
                    usage.prompt_tokens + event.usage.prompt_tokens,
                    usage.completion_tokens + event.usage.completion_tokens,
                )
                event = FinalAnswer(event.choices, total, event.model, event.trim, chunks)
            yield event

    def _extract(self, request: AnswerRequest, params: SamplingParams, instruction: str) -> Iterator[Event]:
        sources = self._retrieve(request, instruction)
        if not sources:
            yield SourcesFound(self.collection, [])
            yield from self._fixed_answer(NOT_FOUND.format(collection=self.collection))
            return
        yield SourcesFound(self.collection, sources)
        room = self.backend.info.context_length - params.max_new_tokens - PROMPT_RESERVE
        prompts = [
            EXTRACT_PROMPT.format(
                instruction=instruction, text=fit_sources([s], room, self.backend.count_tokens)[0].text
            )
            for s in sources
        ]
        answers, usage = self._map(prompts, params)
        lines = [f"- {a} [{s.number}]" for a, s in zip(answers, sources, strict=True) if a]
        text = "\n".join(lines) or NOT_FOUND.format(collection=self.collection)
        yield from self._fixed_answer(text, sources, usage)
