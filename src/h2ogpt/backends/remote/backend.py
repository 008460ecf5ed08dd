"""The remote backend: a vLLM, TGI, Ollama, OpenAI or other OpenAI-compatible server.

Talks to the server with the official ``openai`` client, only at the configured URL:
environment proxies are ignored and redirects are not followed. Generation always
streams (so ``max_time`` can end it and return what came so far); ``n`` samples of a
prompt are one request with the server's ``n``; many texts are one ``/completions``
request with a list prompt; scoring uses ``echo=True`` with prompt log-probabilities.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import openai

from h2ogpt.backends.base import (
    Capabilities,
    Completion,
    ContinuationScore,
    ModelInfo,
    OptionalPrimitives,
    SamplingParams,
    TextDelta,
)
from h2ogpt.backends.remote.parsing import (
    IMAGE_TOKENS,
    StreamCollector,
    chat_content,
    continuation_score,
    estimate_tokens,
    sampling_body,
    server_message,
)
from h2ogpt.backends.remote.spec import REMOTE_KINDS, ServerSpec, parse_inference_server
from h2ogpt.errors import RequestError, UpstreamError
from h2ogpt.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # to open a connection; reading waits up to max_time
DEFAULT_TIMEOUT_S = 600.0  # reading, for calls without a max_time (scoring)
LIST_MODELS_TIMEOUT_S = 30.0
MAX_RETRIES = 3  # on 408/409/429/5xx, refused connections and timeouts; backoff 0.5, 1, 2 s
DEFAULT_CONTEXT = 4096  # when neither the server nor --max_seq_len gives one
MESSAGE_OVERHEAD_TOKENS = 4  # role markers a chat template adds around each message
OPTIONAL_FIELDS = ("stream_options", "logprobs")  # ours to ask for; dropped when a server rejects them
_RETRIED = (408, 409, 429)


class RemoteBackend(OptionalPrimitives):
    """The batched primitives over an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        spec: ServerSpec,
        *,
        model: str = "",
        max_seq_len: int = 0,
        max_retries: int = MAX_RETRIES,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.max_retries = max_retries
        self.connect_timeout = connect_timeout
        self.extensions = spec.kind not in ("openai", "openai_chat")  # vLLM's top_k, repetition_penalty
        self.client = openai.OpenAI(
            base_url=spec.base_url,
            api_key=spec.api_key(),
            max_retries=max_retries,
            timeout=self._timeout(DEFAULT_TIMEOUT_S),
            http_client=openai.DefaultHttpxClient(trust_env=False, follow_redirects=False),
        )
        self._rejected: set[str] = set()  # OPTIONAL_FIELDS this server refused
        self._score_max_tokens = 0  # becomes 1 for servers that refuse max_tokens=0 (vLLM)
        try:
            name, context = self._discover(model, max_seq_len)
        except Exception:
            self.client.close()
            raise
        self.info = ModelInfo(
            name=name,
            context_length=context,
            device="remote",
            dtype="n/a",
            chat_native=spec.chat_native,
            engine=spec.kind,
        )
        # a server's own prefix cache does the sharing; step search re-sends prompt + steps
        self.capabilities = Capabilities(
            raw_continuation=not spec.chat_native,
            logprobs=True,
            json_object=True,
            vision=REMOTE_KINDS[spec.kind].vision,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteBackend:
        spec = parse_inference_server(settings.inference_server)
        return cls(spec, model=settings.base_model.strip(), max_seq_len=settings.max_seq_len)

    def close(self) -> None:
        self.client.close()

    # --- setup ---------------------------------------------------------------------------
    def _timeout(self, read: float | None) -> openai.Timeout:
        return openai.Timeout(read or DEFAULT_TIMEOUT_S, connect=self.connect_timeout)

    def _discover(self, model: str, max_seq_len: int) -> tuple[str, int]:
        """The model id (``--base_model`` or the server's first) and the context length
        (the smaller of the server's ``max_model_len`` and ``--max_seq_len``)."""
        if model and max_seq_len:
            return model, max_seq_len  # nothing to ask the server
        listed: list[Any] = []
        with self._errors("listing its models (GET /models)", LIST_MODELS_TIMEOUT_S):
            try:
                listed = list(self.client.models.list(timeout=self._timeout(LIST_MODELS_TIMEOUT_S)))
            except openai.NotFoundError:
                if not model:
                    raise
                log.warning("%s has no /models route; using --base_model=%s", self.spec.base_url, model)
        ids = [m.id for m in listed]
        if not model:
            if not ids:
                raise UpstreamError(
                    f"the inference server at {self.spec.base_url} lists no models (GET /models); "
                    "name the model with --base_model"
                )
            model = ids[0]
        elif ids and model not in ids:
            log.warning(
                "--base_model=%s is not among the models %s lists: %s", model, self.spec.base_url, ids
            )
        entry = next((m for m in listed if m.id == model), None)
        served = getattr(entry, "max_model_len", None)
        served = served if isinstance(served, int) and served > 0 else 0
        if served and max_seq_len:
            return model, min(served, max_seq_len)
        return model, served or max_seq_len or DEFAULT_CONTEXT

    # --- errors --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, doing: str, timeout: float | None = None) -> Iterator[None]:
        """Translate the client's errors into RequestError (the request's fault) or
        UpstreamError (the server's), naming the URL and what to do."""
        url = self.spec.base_url
        tries = f"{self.max_retries + 1} attempt{'s' if self.max_retries else ''}"
        try:
            yield
        except openai.APITimeoutError:
            raise UpstreamError(
                f"the inference server at {url} did not answer within {timeout or DEFAULT_TIMEOUT_S:g} s "
                f"while {doing} ({tries}); it may be overloaded or stuck: check it, or allow more time "
                "(--max_time, or the request's max_time)"
            ) from None
        except openai.APIConnectionError as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ else ""
            raise UpstreamError(
                f"cannot reach the inference server at {url} while {doing} ({tries}{cause}); check that "
                "it is running and that --inference_server points at it"
            ) from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, doing) from None
        except openai.APIError as exc:  # an error event inside a stream
            raise UpstreamError(
                f"the inference server at {url} failed while {doing}: {exc.message}"
            ) from None

    def _status_error(self, exc: openai.APIStatusError, doing: str) -> RequestError | UpstreamError:
        url, code, message = self.spec.base_url, exc.status_code, server_message(exc)
        if code in (400, 413, 422):
            return RequestError(
                f"the inference server at {url} rejected the request (HTTP {code}): {message}"
            )
        if code in (401, 403):
            return UpstreamError(
                f"the inference server at {url} refused the API key (HTTP {code}: {message}); set "
                "OPENAI_API_KEY to a key it accepts"
            )
        if code == 404:
            return UpstreamError(
                f"the inference server at {url} answered HTTP 404 while {doing}: {message}; check "
                "--base_model and that the URL ends in the API root (usually /v1)"
            )
        if code in _RETRIED or code >= 500:
            return UpstreamError(
                f"the inference server at {url} kept failing while {doing} (HTTP {code}: {message}) "
                f"after {self.max_retries} retries; check its logs, or try again later"
            )
        return UpstreamError(f"the inference server at {url} answered HTTP {code} while {doing}: {message}")

    def _create(self, create: Callable[..., Any], body: dict[str, Any], optional: Sequence[str]) -> Any:
        """Send a request; fields in ``optional`` that the server rejects (HTTP 400 naming
        them) are dropped, for this request and all later ones."""
        body = {k: v for k, v in body.items() if not (k in optional and k in self._rejected)}
        while True:
            try:
                return create(**body)
            except openai.BadRequestError as exc:
                said = server_message(exc).lower()
                rejected = [k for k in optional if k in body and k in said]
                if not rejected:
                    raise
                log.warning("%s does not take %s; asking without it", self.spec.base_url, rejected)
                self._rejected.update(rejected)
                body = {k: v for k, v in body.items() if k not in rejected}

    # --- tokens --------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """An estimate (no tokenizer of the served model here): see ``estimate_tokens``."""
        return estimate_tokens(text)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        return None  # the server's template is not visible; prompt formats (--prompt_type) apply

    # --- generation ----------------------------------------------------------------------
    def _run(
        self,
        *,
        chat: bool,
        payload: dict[str, Any],
        params: SamplingParams,
        n: int,
        count: int,
        prompt_estimates: list[int],
        offset: int = 0,
        deadline: float | None = None,
    ) -> Iterator[TextDelta | Completion]:
        """One streamed request: TextDelta events as they come, then a Completion per choice."""
        create = self.client.chat.completions.create if chat else self.client.completions.create
        body = {
            **payload,
            **sampling_body(params, n, chat=chat, logprobs=True, extensions=self.extensions),
            "model": self.info.name,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": self._timeout(params.max_time),
        }
        optional = OPTIONAL_FIELDS if not params.top_logprobs else OPTIONAL_FIELDS[:1]
        collector = StreamCollector(chat=chat, top_logprobs=params.top_logprobs, offset=offset, per_prompt=n)
        timed_out = False
        with self._errors("generating", params.max_time):
            stream = self._create(create, body, optional)
            try:
                for chunk in stream:
                    yield from collector.add(chunk)
                    if deadline is not None and time.monotonic() > deadline:
                        timed_out = True
                        break
            except openai.APITimeoutError:
                if not collector.received_text:
                    raise
                timed_out = True  # stalled after max_time: keep what came
            finally:
                stream.close()
        yield from collector.completions(count, prompt_estimates, timed_out)

    def _samples(
        self, chat: bool, payload: dict[str, Any], params: SamplingParams, n: int, estimate: int
    ) -> Iterator[TextDelta | Completion]:
        """``n`` samples in one request; a server that ignores ``n`` (Ollama) is asked
        again for the rest, with the seed moved on so the samples differ."""
        deadline = None if params.max_time is None else time.monotonic() + params.max_time
        done = 0
        while done < n:
            want = n - done
            round_params = params
            if done and params.seed is not None:
                round_params = dataclasses.replace(params, seed=params.seed + done)
            finished = 0
            for event in self._run(
                chat=chat,
                payload=payload,
                params=round_params,
                n=want,
                count=want,
                prompt_estimates=[estimate],
                offset=done,
                deadline=deadline,
            ):
                finished += isinstance(event, Completion)
                yield event
            if not finished:
                raise UpstreamError(f"the inference server at {self.spec.base_url} returned no answer")
            done += finished
            if done < n and deadline is not None and time.monotonic() > deadline:
                break

    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        """``n`` samples of ``prompt`` from /completions, as one request with ``n``."""
        _check_n(n)
        return self._samples(False, {"prompt": prompt}, params, n, estimate_tokens(prompt))

    def stream_chat(
        self, messages: Sequence[dict[str, str]], params: SamplingParams, n: int = 1
    ) -> Iterator[TextDelta | Completion]:
        """``n`` answers to ``messages`` from /chat/completions (the server's chat template)."""
        _check_n(n)
        estimate = sum(
            estimate_tokens(m["content"])
            + MESSAGE_OVERHEAD_TOKENS
            + IMAGE_TOKENS * len(m.get("images") or ())
            for m in messages
        )
        body = [{"role": m["role"], "content": chat_content(m)} for m in messages]
        return self._samples(True, {"messages": body}, params, n, estimate)

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        done = [e for e in self.stream(prompt, params, n) if isinstance(e, Completion)]
        return sorted(done, key=lambda c: c.index)

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Each text continued, in ONE /completions request with a list prompt."""
        texts = list(texts)
        if not texts:
            return []
        deadline = None if params.max_time is None else time.monotonic() + params.max_time
        events = self._run(
            chat=False,
            payload={"prompt": texts},
            params=params,
            n=1,
            count=len(texts),
            prompt_estimates=[estimate_tokens(t) for t in texts],
            deadline=deadline,
        )
        done = sorted((e for e in events if isinstance(e, Completion)), key=lambda c: c.index)
        if len(done) != len(texts):
            raise UpstreamError(
                f"the inference server at {self.spec.base_url} continued {len(done)} of {len(texts)} texts; "
                "it does not take a list of prompts on /completions"
            )
        return done

    # --- scoring -------------------------------------------------------------------------
    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        """Prompt log-probabilities of ``prompt + continuation`` from one /completions
        request (``echo=True``, ``logprobs=1``, ``max_tokens=0``, or 1 where 0 is refused)."""
        continuations = list(continuations)
        if not continuations:
            return []
        if not prompt:
            raise RequestError("the prompt is empty: scoring needs a prompt to condition on")
        body = {
            "model": self.info.name,
            "prompt": [prompt + c for c in continuations],
            "echo": True,
            "logprobs": 1,
            "temperature": 0.0,
            "timeout": self._timeout(DEFAULT_TIMEOUT_S),
        }
        with self._errors("scoring continuations"):
            try:
                response = self.client.completions.create(**body, max_tokens=self._score_max_tokens)
            except openai.BadRequestError:
                if self._score_max_tokens:
                    raise
                self._score_max_tokens = 1  # vLLM: "max_tokens must be at least 1"
                response = self.client.completions.create(**body, max_tokens=1)
        choices = sorted(response.choices, key=lambda c: c.index)
        scores = []
        for choice, continuation in zip(choices, continuations, strict=False):
            score = continuation_score(choice, len(prompt), len(prompt) + len(continuation))
            if score is None:
                break
            scores.append(score)
        if len(scores) != len(continuations):
            raise RequestError(
                f"the inference server at {self.spec.base_url} returned no prompt log-probabilities "
                "(echo=True with logprobs); scoring needs a /completions server that gives them, "
                "such as vLLM (--inference_server=vllm:URL)"
            )
        return scores


def _check_n(n: int) -> None:
    if n < 1:
        raise RequestError(f"n={n}: ask for at least one sample")
