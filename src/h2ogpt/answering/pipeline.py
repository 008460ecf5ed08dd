"""``Pipeline.answer(request)``: the one way to produce an answer, as a stream of events."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from h2ogpt.answering.prompting import (
    Message,
    RenderedPrompt,
    check_prompt_type,
    render_prompt,
    with_system_prompt,
)
from h2ogpt.backends.base import Backend, Completion, SamplingParams
from h2ogpt.errors import H2OGPTError, RequestError, UpstreamError
from h2ogpt.events import Choice, ErrorEvent, Event, FinalAnswer, HistoryTrim, TokenDelta, Usage
from h2ogpt.request import AnswerRequest
from h2ogpt.scaling.options import NO_SCALING, ScalingOptions
from h2ogpt.settings import NO_DOCUMENTS, Settings
from h2ogpt.vision.reading import ImageReader, with_images_read

if TYPE_CHECKING:
    from h2ogpt.documents.library import DocumentLibrary


log = logging.getLogger(__name__)

MESSAGE_OVERHEAD_TOKENS = 4  # role markers a chat template adds around each message


class Pipeline:
    """Turns AnswerRequests into events using one backend, optional document collections
    and the Settings' defaults."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        documents: DocumentLibrary | None = None,
        name: str | None = None,
    ) -> None:
        check_prompt_type(settings.prompt_type)
        self.settings = settings
        self.backend = backend
        self.documents = documents
        self.name = name or backend.info.name  # what a face shows as the model in use
        self.images = ImageReader(settings, backend)  # who looks at a question's images

    def answer(self, request: AnswerRequest, user: str | None = None) -> Iterator[Event]:
        """Stream the answer: TokenDelta events (after SourcesFound when it comes from
        documents), then a FinalAnswer, or one ErrorEvent. ``user`` selects whose private
        collections may be read. Closing the iterator cancels generation.
        """
        try:
            yield from self._answer(request, user)
        except UpstreamError as exc:
            yield ErrorEvent(str(exc), "upstream")
        except H2OGPTError as exc:
            yield ErrorEvent(str(exc), "bad_request")
        except Exception as exc:  # a bug of ours: report it, keep the face alive
            log.exception("answer failed")
            yield ErrorEvent(f"internal error: {exc}", "internal")

    def _answer(self, request: AnswerRequest, user: str | None) -> Iterator[Event]:
        request, read = self.images.prepare(request)
        if read is None:
            yield from self._answer_text(request, user)
        else:
            note_in_text = request.response_format == "text"
            yield from with_images_read(self._answer_text(request, user), read, note_in_text)

    def _answer_text(self, request: AnswerRequest, user: str | None) -> Iterator[Event]:
        collection = self.collection_for(request, user)
        if collection is None:
            yield from self._chat(request, [m.as_message() for m in request.messages])
            return
        from h2ogpt.documents.qa import DocumentQA

        qa = DocumentQA(self.documents, self.backend, self._chat, collection, user)
        yield from qa.run(request, request.sampling_params(self.settings))

    def collection_for(self, request: AnswerRequest, user: str | None) -> str | None:
        """The collection to answer from, or None for a plain chat.

        An explicitly requested collection must exist; the default (--langchain_mode) is
        used only when it exists and holds documents.
        """
        explicit = request.collection is not None
        name = request.collection if explicit else self.settings.langchain_mode
        if request.prompt is not None or not name or name == NO_DOCUMENTS:
            return None
        if self.documents is None:
            if explicit:
                raise RequestError(f"collection={name}: documents are not enabled in this server")
            return None
        counts = {c.name: c.documents for c in self.documents.list_collections(user)}
        if name not in counts:
            if explicit:
                raise RequestError(
                    f"collection={name}: no such collection; choose one of {', '.join(counts)}"
                )
            return None
        return name if explicit or counts[name] else None

    def _chat(self, request: AnswerRequest, messages: list[Message]) -> Iterator[Event]:
        """Generate for ``messages`` (or the request's raw prompt) with the request's settings."""
        params = request.sampling_params(self.settings)
        prompt_type = self.settings.prompt_type if request.prompt_type is None else request.prompt_type
        system_prompt = (
            self.settings.system_prompt if request.system_prompt is None else request.system_prompt
        )
        if request.prompt is not None:  # raw text: no chat template, no history to trim
            kept, rendered, trim = [], RenderedPrompt(request.prompt), None
        else:
            messages = with_system_prompt(messages, system_prompt)
            budget = self.backend.info.context_length - params.max_new_tokens
            kept, rendered, trim = self.fit_context(messages, prompt_type, budget)
        options = request.scaling_options(self.settings)
        if options.scaling_algorithm != NO_SCALING:
            yield from self._scaled(request, options, kept, rendered, params, prompt_type, trim)
            return
        if rendered is None:  # the backend's server renders the chat
            events = self.backend.stream_chat(kept, params, request.n)
        else:
            params = dataclasses.replace(params, stop=tuple(dict.fromkeys(params.stop + rendered.stop)))
            events = self.backend.stream(rendered.text, params, request.n)
        completions: list[Completion] = []
        for event in events:
            if isinstance(event, Completion):
                completions.append(event)
            else:
                yield TokenDelta(event.text, event.index)
        completions.sort(key=lambda c: c.index)
        yield FinalAnswer(
            choices=[Choice(c.index, c.text, c.finish_reason, c.logprobs) for c in completions],
            usage=Usage(completions[0].prompt_tokens, sum(c.completion_tokens for c in completions)),
            model=self.backend.info.name,
            trim=trim,
        )

    def _scaled(
        self,
        request: AnswerRequest,
        options: ScalingOptions,
        messages: list[Message],
        rendered: RenderedPrompt | None,
        params: SamplingParams,
        prompt_type: str,
        trim: HistoryTrim | None,
    ) -> Iterator[Event]:
        """An answer found by inference-time scaling: progress events, then the chosen answer."""
        from h2ogpt import scaling

        if request.n != 1:
            raise RequestError(
                f"n={request.n}: with scaling_algorithm there is one answer; use budget instead"
            )
        task = scaling.ScalingTask(
            backend=self.backend,
            messages=messages,
            prompt=None if rendered is None else rendered.text,
            params=params,
            options=options,
            prompt_type=prompt_type,
            max_batch=self.settings.max_batch_rows,
            score_model=self.settings.score_model,
            prm_model=self.settings.prm_model,
        )
        result = yield from scaling.stream(task)
        chosen = result.the_one
        yield TokenDelta(chosen.text)
        yield FinalAnswer(
            choices=[Choice(0, chosen.text, chosen.finish_reason)],
            usage=Usage(result.usage.total_prompt_tokens, result.usage.total_completion_tokens),
            model=self.backend.info.name,
            trim=trim,
            scaling=result,
        )

    def _measure(self, messages: list[Message], prompt_type: str) -> tuple[RenderedPrompt | None, int]:
        """The rendered prompt (None for chat-native backends) and its size in tokens."""
        if self.backend.info.chat_native:
            return None, sum(
                self.backend.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages
            )
        rendered = render_prompt(self.backend, messages, prompt_type)
        return rendered, self.backend.count_tokens(rendered.text)

    def fit_context(
        self, messages: Sequence[Message], prompt_type: str, budget: int
    ) -> tuple[list[Message], RenderedPrompt | None, HistoryTrim | None]:
        """Leave out the oldest turns until the chat fits ``budget`` tokens.

        Returns the kept messages, their rendered prompt (None when the backend renders
        chats itself) and what was left out.
        """
        messages = list(messages)
        system = messages[:1] if messages and messages[0]["role"] == "system" else []
        turns = messages[len(system) :]
        rendered, full_tokens = self._measure(messages, prompt_type)
        kept, tokens, dropped = messages, full_tokens, 0
        while tokens > budget and dropped < len(turns) - 1:
            dropped += 1
            while dropped < len(turns) - 1 and turns[dropped]["role"] != "user":
                dropped += 1  # never start the kept history with an assistant turn
            kept = system + turns[dropped:]
            rendered, tokens = self._measure(kept, prompt_type)
        if tokens > budget:
            raise RequestError(
                f"the last message needs {tokens} prompt tokens but only {max(budget, 0)} fit "
                f"(context {self.backend.info.context_length} minus max_new_tokens); shorten it "
                "or lower max_new_tokens"
            )
        if not dropped:
            return kept, rendered, None
        log.info("History trimmed: left out %d oldest messages to fit the context", dropped)
        return kept, rendered, HistoryTrim(dropped_messages=dropped, dropped_tokens=full_tokens - tokens)
