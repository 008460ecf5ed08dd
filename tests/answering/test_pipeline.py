"""Pipeline.answer: typed events, system prompts, history trimming, errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.selection import create_backend
from h2ogpt.events import ErrorEvent, FinalAnswer, TokenDelta
from h2ogpt.request import AnswerRequest, ChatMessage


def collect(pipeline, request):
    events = list(pipeline.answer(request))
    return [e for e in events if isinstance(e, TokenDelta)], events[-1]


def test_answer_streams_then_finishes(pipeline):
    deltas, final = collect(
        pipeline, AnswerRequest.from_prompt("What is the capital of Japan?", max_new_tokens=24)
    )
    assert isinstance(final, FinalAnswer)
    assert "Tokyo" in final.text and "".join(d.text for d in deltas) == final.text
    assert final.usage.prompt_tokens > 0 and 0 < final.usage.completion_tokens <= 24
    assert final.model == "SmolLM2-135M-Instruct" and final.trim is None


def test_n_choices_stream_with_their_index(pipeline):
    request = AnswerRequest.from_prompt("Name an animal.", n=3, temperature=1.0, seed=1, max_new_tokens=8)
    deltas, final = collect(pipeline, request)
    assert [c.index for c in final.choices] == [0, 1, 2]
    for choice in final.choices:
        assert "".join(d.text for d in deltas if d.index == choice.index) == choice.text
    assert len(final.choices) <= final.usage.completion_tokens <= 3 * 8


def _prompt_for(pipeline, system_prompt):
    request = AnswerRequest.from_prompt("Hi", system_prompt=system_prompt)
    from h2ogpt.answering.prompting import with_system_prompt

    messages = with_system_prompt([m.model_dump() for m in request.messages], system_prompt)
    return pipeline.fit_context(messages, "", 10_000)[1].text


def test_system_prompt_auto_custom_and_none(pipeline):
    assert "named SmolLM" in _prompt_for(pipeline, "auto")
    custom = _prompt_for(pipeline, "You are a pirate.")
    assert "You are a pirate." in custom and "named SmolLM" not in custom
    none = _prompt_for(pipeline, "")
    assert "named SmolLM" not in none and none.startswith("<|im_start|>system\n<|im_end|>")


def test_request_system_message_wins_over_setting(pipeline):
    from h2ogpt.answering.prompting import with_system_prompt

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert with_system_prompt(messages, "You are a pirate.") == messages


def test_prompt_type_fallback_answers(pipeline):
    request = AnswerRequest.from_prompt(
        "What is the capital of France?", prompt_type="human_bot", max_new_tokens=20
    )
    _, final = collect(pipeline, request)
    assert isinstance(final, FinalAnswer) and "<human>:" not in final.text


@pytest.fixture(scope="module")
def small_context_pipeline(backend, settings):
    """The same model on the same engine with a 160-token context, to exercise trimming quickly."""
    small = settings.model_copy(update={"engine": backend.info.engine, "max_seq_len": 160})
    return Pipeline(small, create_backend(small))


def test_long_history_is_trimmed_oldest_first_and_reported(small_context_pipeline):
    history = []
    for i in range(6):
        history += [
            ChatMessage(role="user", content=f"Tell me fact number {i} about the ocean and its tides."),
            ChatMessage(
                role="assistant", content=f"Fact {i}: the ocean covers most of the planet and has tides."
            ),
        ]
    request = AnswerRequest(
        messages=[*history, ChatMessage(role="user", content="Thanks!")], max_new_tokens=16
    )
    _, final = collect(small_context_pipeline, request)
    assert isinstance(final, FinalAnswer)
    assert final.trim is not None and final.trim.dropped_messages % 2 == 0 and final.trim.dropped_tokens > 0
    assert final.usage.prompt_tokens + 16 <= 160


def test_message_longer_than_context_is_a_clear_error(small_context_pipeline):
    _, final = collect(small_context_pipeline, AnswerRequest.from_prompt("ocean " * 400, max_new_tokens=16))
    assert isinstance(final, ErrorEvent) and final.kind == "bad_request"
    assert "shorten it" in final.message and "160" in final.message


def test_unknown_prompt_type_is_a_bad_request(pipeline):
    _, final = collect(pipeline, AnswerRequest.from_prompt("Hi", prompt_type="nonsense"))
    assert isinstance(final, ErrorEvent) and "--prompt_type=nonsense" in final.message


@pytest.mark.parametrize(
    "fields",
    [{"messages": []}, {"messages": [{"role": "system", "content": "x"}]}, {"messages": [{"role": "user", "content": "x"}], "bogus": 1},
     {"messages": [{"role": "robot", "content": "x"}]}, {"messages": [{"role": "user", "content": "x"}], "temperature": -1},
     {"messages": [{"role": "user", "content": "x"}], "stop": [""]},
     {"messages": [{"role": "user", "content": "x"}], "prompt": "y"}, {}],
)  # fmt: skip
def test_bad_requests_are_rejected(fields):
    with pytest.raises(ValidationError):
        AnswerRequest.model_validate(fields)


def test_raw_prompt_is_continued_without_a_chat_template(pipeline):
    _, final = collect(pipeline, AnswerRequest(prompt="The capital of France is", max_new_tokens=4))
    assert isinstance(final, FinalAnswer) and "Paris" in final.text
    assert final.usage.prompt_tokens == pipeline.backend.count_tokens("The capital of France is")


def test_max_time_setting_caps_requests(settings):
    capped = settings.model_copy(update={"max_time": 2.0})
    assert AnswerRequest.from_prompt("x", max_time=100).sampling_params(capped).max_time == 2.0
    assert AnswerRequest.from_prompt("x", max_time=1).sampling_params(capped).max_time == 1
    assert AnswerRequest.from_prompt("x").sampling_params(capped).max_time == 2.0
