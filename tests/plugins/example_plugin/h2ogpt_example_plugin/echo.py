"""A backend that needs no model: it answers with the last user message, upper-cased."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from h2ogpt.backends.base import (
    Capabilities,
    Completion,
    ContinuationScore,
    ModelInfo,
    OptionalPrimitives,
    SamplingParams,
    TextDelta,
)

TEMPLATE_TURN = "<{role}>{content}</{role}>\n"
LAST_USER = re.compile(r"<user>(.*)</user>", re.S)


class EchoBackend(OptionalPrimitives):
    """Sample ``k`` of ``n`` is the last user message upper-cased, then ``k`` exclamation marks."""

    info = ModelInfo(name="example-echo", context_length=4096, device="cpu", dtype="none")
    capabilities = Capabilities(logprobs=False, json_object=False)  # declared: no log-probabilities

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        return "".join(TEMPLATE_TURN.format(**m) for m in messages) + "<assistant>"

    def _answer(self, prompt: str, k: int, params: SamplingParams) -> str:
        found = LAST_USER.findall(prompt)
        text = (found[-1] if found else prompt).strip().upper() + "!" * k
        return " ".join(text.split(" ")[: params.max_new_tokens])

    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        for k in range(n):
            text = self._answer(prompt, k, params)
            yield TextDelta(k, text)
            yield Completion(k, text, "stop", self.count_tokens(prompt), self.count_tokens(text))

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        return [e for e in self.stream(prompt, params, n) if isinstance(e, Completion)]

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        return [
            Completion(i, self._answer(t, 0, params), "stop", self.count_tokens(t), 1)
            for i, t in enumerate(texts)
        ]

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        return [ContinuationScore(tuple(c.split()), tuple(0.0 for _ in c.split())) for c in continuations]
