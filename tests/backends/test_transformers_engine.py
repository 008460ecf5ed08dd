"""The transformers engine's batched primitives, on the real embedded model (the llama.cpp
engine's own tests are in test_llamacpp_engine.py; both run the engine-neutral suites)."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from h2ogpt.backends.base import Completion, SamplingParams, TextDelta
from h2ogpt.backends.sequences import partial_stop_len
from h2ogpt.backends.transformers.decoding import Decoder, LogitsShaper
from h2ogpt.errors import RequestError


@pytest.fixture(scope="module")
def backend(transformers_backend):
    """This module tests the transformers engine itself (its forward passes, its Decoder)."""
    return transformers_backend


@pytest.fixture(scope="module")
def prompt(backend) -> str:
    return backend.apply_chat_template([{"role": "user", "content": "Write a short poem about the sea."}])


@contextlib.contextmanager
def forward_shapes(backend):
    """Record (batch, new tokens) of every forward pass the model makes."""
    shapes: list[tuple[int, int]] = []

    def hook(module, args, kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))

    handle = backend.engine.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield shapes
    finally:
        handle.remove()


def test_greedy_answer_is_deterministic(backend):
    prompt = backend.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}])
    first = backend.sample(prompt, SamplingParams(max_new_tokens=20))[0]
    again = backend.sample(prompt, SamplingParams(max_new_tokens=20))[0]
    assert "Paris" in first.text and first.text == again.text
    assert first.finish_reason == "stop" and first.prompt_tokens == backend.count_tokens(prompt)


def test_n8_samples_are_one_batched_call_with_shared_prefill(backend, prompt):
    params = SamplingParams(max_new_tokens=24, temperature=1.0, seed=123)
    with forward_shapes(backend) as shapes:
        samples = backend.sample(prompt, params, n=8)
    assert len(samples) == 8 and len({s.text for s in samples}) == 8
    prompt_len = backend.count_tokens(prompt)
    assert shapes[0] == (1, prompt_len), "the prompt is prefilled once, at batch 1"
    assert all(new == 1 for _, new in shapes[1:]), "every later pass decodes one token per row"
    assert shapes[1][0] == 8, "the 8 samples decode together"
    assert len(shapes) <= params.max_new_tokens, "one pass per generated position, not per sample"


def test_seed_reproduces_and_differs(backend, prompt):
    def run(seed):
        return [
            c.text
            for c in backend.sample(
                prompt, SamplingParams(max_new_tokens=12, temperature=0.9, seed=seed), n=3
            )
        ]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_stop_strings_truncate_and_never_stream(backend):
    prompt = backend.apply_chat_template([{"role": "user", "content": "Count from 1 to 10, one per line."}])
    free = backend.sample(prompt, SamplingParams(max_new_tokens=30))[0].text
    stop = free[free.index("3") : free.index("3") + 2]  # a stop string the model will produce
    events = list(backend.stream(prompt, SamplingParams(max_new_tokens=30, stop=(stop,))))
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    (done,) = [e for e in events if isinstance(e, Completion)]
    assert done.finish_reason == "stop" and done.text == free[: free.index(stop)]
    assert streamed == done.text and stop not in streamed


def test_max_new_tokens_and_max_time(backend, prompt):
    done = backend.sample(prompt, SamplingParams(max_new_tokens=5))[0]
    assert (done.finish_reason, done.completion_tokens) == ("length", 5)
    timed = backend.sample(prompt, SamplingParams(max_new_tokens=200, max_time=0.3))[0]
    assert timed.finish_reason == "time" and timed.completion_tokens < 200


def test_continue_many_texts_in_one_batch_matches_one_by_one(backend):
    texts = [
        backend.apply_chat_template([{"role": "user", "content": q}])
        for q in ("What is 2+2?", "Name a colour that is also a fruit, and explain briefly why.")
    ]
    texts.append(texts[0] + "The answer")
    params = SamplingParams(max_new_tokens=12)
    with forward_shapes(backend) as shapes:
        batched = backend.continue_texts(texts, params)
    single = [backend.sample(t, params)[0] for t in texts]
    assert [c.text for c in batched] == [c.text for c in single]
    assert shapes[0][0] == 3, "the three prompts are prefilled together"


def test_continue_texts_stops_at_stop_string(backend):
    text = backend.apply_chat_template([{"role": "user", "content": "List three animals, one per line."}])
    done = backend.continue_texts([text], SamplingParams(max_new_tokens=40, stop=("\n",)))[0]
    assert done.finish_reason == "stop" and "\n" not in done.text and done.text


def test_score_matches_generation_logprobs(backend, prompt):
    generated = backend.sample(prompt, SamplingParams(max_new_tokens=10))[0]
    scored = backend.score_continuations(prompt, [generated.text, " zebra quantum marmalade"])
    assert scored[0].logprobs == pytest.approx([t.logprob for t in generated.logprobs], abs=1e-3)
    assert scored[0].total > scored[1].total


def test_top_logprobs_lists_the_chosen_greedy_token_first(backend, prompt):
    done = backend.sample(prompt, SamplingParams(max_new_tokens=3, top_logprobs=3))[0]
    for token in done.logprobs:
        assert len(token.top) == 3 and token.top[0] == (token.token, pytest.approx(token.logprob))


def test_top_k_1_sampling_is_greedy(backend, prompt):
    greedy = backend.sample(prompt, SamplingParams(max_new_tokens=10))[0].text
    sampled = backend.sample(prompt, SamplingParams(max_new_tokens=10, temperature=1.0, top_k=1, seed=3), n=2)
    assert [s.text for s in sampled] == [greedy, greedy]


def test_closing_the_stream_cancels_generation(backend, prompt):
    with forward_shapes(backend) as shapes:
        stream = backend.stream(prompt, SamplingParams(max_new_tokens=200))
        next(stream)
        stream.close()
        passes = len(shapes)
    assert passes < 5


def test_bad_prompts_are_request_errors(backend):
    with pytest.raises(RequestError, match="empty"):
        backend.sample("", SamplingParams())
    with pytest.raises(RequestError, match="context"):
        backend.sample("word " * 9000, SamplingParams())


def test_penalties_shape_logits():
    from h2ogpt.backends.sequences import Row

    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5]])
    row = Row(index=0, prompt_ids=[0, 1], params=SamplingParams(), tokens=[2, 2])
    shaped = LogitsShaper(SamplingParams(repetition_penalty=2.0)).penalize(logits.clone(), [row])
    assert shaped.tolist() == [[1.0, -4.0, 0.5, 0.5]]
    shaped = LogitsShaper(SamplingParams(presence_penalty=0.5, frequency_penalty=0.25)).penalize(
        logits.clone(), [row]
    )
    assert shaped.tolist() == [[2.0, -2.0, 0.0, 0.5]]


def test_partial_stop_is_held_back():
    assert partial_stop_len("hello <|us", ["<|user|>"]) == 4
    assert partial_stop_len("hello", ["<|user|>"]) == 0
    assert partial_stop_len("abc\n", ["\n\n"]) == 1


@pytest.mark.parametrize("max_new_tokens", [5, 12, 60])
def test_json_mode_answers_are_always_one_json_object(backend, max_new_tokens):
    """Even when max_new_tokens cuts the answer short, the object is closed in time."""
    prompt = backend.apply_chat_template([{"role": "user", "content": "Describe a cat as JSON."}])
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.9, seed=5, json_object=True)
    for done in backend.sample(prompt, params, n=3) + backend.sample(
        prompt, SamplingParams(max_new_tokens=max_new_tokens, json_object=True)
    ):
        assert isinstance(json.loads(done.text), dict), done.text
        assert done.completion_tokens <= max_new_tokens


def test_logits_for_chosen_positions_match_without_logits_to_keep(backend):
    """Models that take ``logits_to_keep`` project only the needed positions; a model that
    does not gets the same numbers from the full projection."""
    decoder = backend.engine.decoder
    full = Decoder(decoder.model, decoder.tokenizer, decoder.eos_token_ids)
    full.__dict__["_keeps_logits"] = False  # as for a model whose forward has no logits_to_keep
    assert decoder._keeps_logits
    encode = decoder.tokenizer.encode
    prefix = encode("Is the answer to 2 + 2 correct? Answer:")
    suffixes = [encode(" 4"), encode(" five, I think"), []]
    kept, projected = (d.next_token_logprobs(prefix, suffixes, 5) for d in (decoder, full))
    for row_kept, row_projected in zip(kept, projected, strict=True):
        assert [t for t, _ in row_kept] == [t for t, _ in row_projected]
        assert all(abs(a - b) < 1e-4 for (_, a), (_, b) in zip(row_kept, row_projected, strict=True))
