"""POST /v1/completions: raw prompts, lists of prompts, echo, legacy logprobs, streaming."""

from __future__ import annotations

import openai
import pytest

pytest_plugins = ["support.api_fixtures"]

PROMPT = "The capital of France is"


def test_one_prompt(client, model_id):
    reply = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=4, temperature=0)
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-") and reply.model == model_id
    (choice,) = reply.choices
    assert choice.index == 0 and "Paris" in choice.text and choice.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens == 5 and 0 < reply.usage.completion_tokens <= 4


def test_list_of_prompts_gives_n_choices_each_in_order(client, model_id):
    prompts = [PROMPT, "1, 2, 3,"]
    reply = client.completions.create(
        model=model_id, prompt=prompts, max_tokens=3, n=2, temperature=1.0, seed=5
    )
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    greedy = [
        client.completions.create(model=model_id, prompt=p, max_tokens=3, temperature=0).usage
        for p in prompts
    ]
    assert reply.usage.prompt_tokens == sum(u.prompt_tokens for u in greedy)
    assert reply.usage.completion_tokens <= 4 * 3


def test_echo_and_logprobs_in_the_legacy_shape(client, model_id):
    reply = client.completions.create(
        model=model_id, prompt=PROMPT, max_tokens=4, temperature=0, echo=True, logprobs=2
    )
    (choice,) = reply.choices
    assert choice.text.startswith(PROMPT)
    probs = choice.logprobs
    assert len(probs.tokens) == len(probs.token_logprobs) == len(probs.top_logprobs) == len(probs.text_offset)
    assert probs.tokens[0] == " Paris" and probs.text_offset[0] == len(PROMPT)
    assert "".join(probs.tokens) == choice.text[len(PROMPT) :]
    for token, offset in zip(probs.tokens, probs.text_offset, strict=True):
        assert choice.text[offset : offset + len(token)] == token
    assert all(len(top) == 2 and max(top.values()) <= 0 for top in probs.top_logprobs)
    plain = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=4, temperature=0)
    assert plain.choices[0].logprobs is None and PROMPT + plain.choices[0].text == choice.text


def test_stream_of_a_list_with_echo(client, model_id):
    prompts = [PROMPT, "1, 2, 3,"]
    whole = client.completions.create(model=model_id, prompt=prompts, max_tokens=4, temperature=0, echo=True)
    texts = {0: "", 1: ""}
    reasons = {}
    chunks = list(
        client.completions.create(
            model=model_id,
            prompt=prompts,
            max_tokens=4,
            temperature=0,
            echo=True,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        for c in chunk.choices:
            texts[c.index] += c.text
            if c.finish_reason:
                reasons[c.index] = c.finish_reason
    assert texts == {c.index: c.text for c in whole.choices}
    assert reasons == {c.index: c.finish_reason for c in whole.choices}
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()


def test_stop_and_seed(client, model_id):
    args = {"model": model_id, "prompt": "Once upon a time", "max_tokens": 8, "temperature": 1.0, "seed": 11}
    first = client.completions.create(**args).choices[0].text
    assert client.completions.create(**args).choices[0].text == first
    word = first.split()[0]
    stopped = client.completions.create(**args, stop=word).choices[0]
    assert stopped.text == first[: first.index(word)] and stopped.finish_reason == "stop"


@pytest.mark.parametrize(
    "prompt, fragment",
    [
        ([1, 2, 3], "token-id"),
        ([[1, 2]], "token-id"),
        ([], "non-empty"),
        ("", "empty"),
        (["a"] * 129, "at most 128"),
    ],
)
def test_prompts_that_cannot_be_answered(client, model_id, prompt, fragment):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=model_id, prompt=prompt, max_tokens=2)
    assert fragment in caught.value.body["message"]


def test_unsupported_options_are_refused(client, model_id):
    for extra in ({"suffix": "end"}, {"best_of": 3}, {"logit_bias": {"1": 5}}):
        with pytest.raises(openai.BadRequestError) as caught:
            client.completions.create(model=model_id, prompt=PROMPT, max_tokens=2, **extra)
        assert caught.value.body["param"] == next(iter(extra))
