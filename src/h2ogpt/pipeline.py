"""``Pipeline.answer(request)``: the one way to produce an answer, as a stream of events."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence

from h2ogpt.backends.base import Backend, Completion
from h2ogpt.errors import H2OGPTError, RequestError
from h2ogpt.events import Choice, ErrorEvent, Event, FinalAnswer, HistoryTrim, TokenDelta, Usage
from h2ogpt.prompting import Message, RenderedPrompt, check_prompt_type, render_prompt, with_system_prompt
from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings

log = logging.getLogger(__name__)


class Pipeline:
    """Turns AnswerRequests into events using one backend and the Settings' defaults."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        check_prompt_type(settings.prompt_type)
        self.settings = settings
        self.backend = backend

    def answer(self, request: AnswerRequest) -> Iterator[Event]:
        """Stream the answer: TokenDelta events, then a FinalAnswer, or one ErrorEvent.

        Closing the iterator cancels generation.
        """
        try:
            yield from self._answer(request)
        except H2OGPTError as exc:
            yield ErrorEvent(str(exc), "bad_request")
        except Exception as exc:  # a bug of ours: report it, keep the face alive
            log.exception("answer failed")
            yield ErrorEvent(f"internal error: {exc}", "internal")

    def _answer(self, request: AnswerRequest) -> Iterator[Event]:
        params = request.sampling_params(self.settings)
        prompt_type = self.settings.prompt_type if request.prompt_type is None else request.prompt_type
        system_prompt = (
            self.settings.system_prompt if request.system_prompt is None else request.system_prompt
        )
        messages = with_system_prompt([m.model_dump() for m in request.messages], system_prompt)
        budget = self.backend.info.context_length - params.max_new_tokens
        rendered, trim = self.fit_context(messages, prompt_type, budget)
        params = dataclasses.replace(params, stop=tuple(dict.fromkeys(params.stop + rendered.stop)))
        completions: list[Completion] = []
        for event in self.backend.stream(rendered.text, params, request.n):
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

    def fit_context(
        self, messages: Sequence[Message], prompt_type: str, budget: int
    ) -> tuple[RenderedPrompt, HistoryTrim | None]:
        """Render the chat, leaving out the oldest turns until it fits ``budget`` tokens."""
        messages = list(messages)
        system = messages[:1] if messages and messages[0]["role"] == "system" else []
        turns = messages[len(system) :]
        full = render_prompt(self.backend, messages, prompt_type)
        full_tokens = self.backend.count_tokens(full.text)
        rendered, tokens, dropped = full, full_tokens, 0
        while tokens > budget and dropped < len(turns) - 1:
            dropped += 1
            while dropped < len(turns) - 1 and turns[dropped]["role"] != "user":
                dropped += 1  # never start the kept history with an assistant turn
            rendered = render_prompt(self.backend, system + turns[dropped:], prompt_type)
            tokens = self.backend.count_tokens(rendered.text)
        if tokens > budget:
            raise RequestError(
                f"the last message needs {tokens} prompt tokens but only {max(budget, 0)} fit "
                f"(context {self.backend.info.context_length} minus max_new_tokens); shorten it "
                "or lower max_new_tokens"
            )
        if not dropped:
            return rendered, None
        log.info("History trimmed: left out %d oldest messages to fit the context", dropped)
        return rendered, HistoryTrim(dropped_messages=dropped, dropped_tokens=full_tokens - tokens)
