"""Inference-time scaling through the pipeline, with the embedded model (real generation)."""

from __future__ import annotations

import dataclasses

import pytest

from h2ogpt import scaling
from h2ogpt.backends.base import SamplingParams
from h2ogpt.events import ErrorEvent, FinalAnswer, ScalingProgress, TokenDelta
from h2ogpt.request import AnswerRequest
from h2ogpt.scaling.options import DEFAULT_SCALING_TEMPERATURE, ScalingOptions
from h2ogpt.scaling.projections import auto_answer
from h2ogpt.settings import Settings

QUESTION = "What is 3 x 8?"


def scaled(pipeline, **fields):
    """All events of one scaled answer, and its FinalAnswer."""
    fields = {"max_new_tokens": 40, "seed": 3, "collection": "LLM", **fields}
    events = list(pipeline.answer(AnswerRequest.from_prompt(QUESTION, **fields)))
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert not errors, errors
    (final,) = [e for e in events if isinstance(e, FinalAnswer)]
    return events, final


def test_self_consistency_votes_over_budget_samples(pipeline):
    events, final = scaled(pipeline, scaling_algorithm="self-consistency", budget=4, stop_when_decided=False)
    result = final.scaling
    assert result.algorithm == "self-consistency" and len(result.candidates) == 4
    assert sum(result.votes.values()) == 4
    chosen = result.the_one
    assert final.text == chosen.text
    assert result.votes[chosen.answer] == max(result.votes.values())  # a majority answer won
    assert [c.answer for c in result.candidates] == [auto_answer(c.text) for c in result.candidates]
    progress = [e for e in events if isinstance(e, ScalingProgress) and e.done]  # (done=0: notes)
    assert [p.done for p in progress] == [1, 2, 3, 4]
    assert sum(progress[-1].votes.values()) == 4
    # the final text streams after the progress, and usage counts every sample
    assert isinstance(events[-2], TokenDelta) and events[-2].text == final.text
    assert final.usage.completion_tokens == result.usage.completion_tokens >= 4


def test_self_consistency_stops_once_the_vote_is_decided(pipeline):
    """Near-greedy samples all agree: after 3 of 4 votes the 4th cannot change the winner."""
    _, final = scaled(pipeline, scaling_algorithm="self-consistency", budget=4, temperature=0.01)
    result = final.scaling
    assert result.stopped_early and len(result.candidates) == 3
    assert list(result.votes.values()) == [3]


def test_a_greedy_temperature_is_raised_for_sampling_and_said(pipeline):
    """Temperature 0 (the UI's default) would make every candidate the same answer."""
    events, final = scaled(pipeline, scaling_algorithm="self-consistency", budget=3, temperature=0.0)
    notes = [e.message for e in events if isinstance(e, ScalingProgress) and e.done == 0]
    assert notes and "sampled at temperature 0.7" in notes[0]
    assert final.scaling.details["temperature"] == DEFAULT_SCALING_TEMPERATURE
    assert final.scaling.details["notes"] == notes
    assert len({c.text for c in final.scaling.candidates}) > 1  # not three greedy copies


def test_the_same_seed_gives_the_same_scaled_answer(pipeline):
    _, first = scaled(pipeline, scaling_algorithm="self-consistency", budget=3)
    _, second = scaled(pipeline, scaling_algorithm="self-consistency", budget=3)
    assert [c.text for c in first.scaling.candidates] == [c.text for c in second.scaling.candidates]
    assert first.scaling.selected_index == second.scaling.selected_index


def test_adaptive_self_consistency_stops_when_decided(pipeline, backend):
    """Near-greedy candidates all agree: the Beta rule stops after 5 of 16 (P = 0.984 > 0.95)
    and the unfinished samples are cancelled."""
    options = ScalingOptions(scaling_algorithm="self-consistency", budget=16, adaptive=True)
    # a question without near ties: llama.cpp's batched rounding could part near-greedy copies
    messages = [{"role": "user", "content": "What is the capital of Japan?"}]
    task = scaling.ScalingTask(
        backend=backend,
        messages=messages,
        prompt=backend.apply_chat_template(messages),
        params=SamplingParams(max_new_tokens=24, temperature=0.01),
        options=options,
        seed=0,
    )
    result = scaling.run(task)
    assert result.stopped_early
    assert len(result.candidates) < 16
    assert next(iter(result.votes.values())) == len(result.candidates)


@pytest.mark.parametrize("reward", ["judge", "judge-score", "self-certainty"])
def test_best_of_n_picks_the_highest_reward(pipeline, reward):
    _, final = scaled(pipeline, scaling_algorithm="best-of-n", budget=3, outcome_reward=reward)
    result = final.scaling
    scores = [c.score for c in result.candidates]
    assert result.selected_index == scores.index(max(scores))
    assert result.details["reward"] == reward
    if reward == "judge":
        assert all(0.0 <= s <= 1.0 for s in scores)
    elif reward == "judge-score":
        assert all(0.0 <= s <= 10.0 for s in scores)
    else:
        assert all(s <= 0.0 for s in scores)  # mean log-probabilities
    distinct = len({c.text for c in result.candidates})
    judged = reward != "self-certainty" and distinct > 1
    assert result.usage.reward_calls == (distinct if judged else 0)
    assert final.usage.prompt_tokens == result.usage.prompt_tokens + result.usage.reward_prompt_tokens


@pytest.mark.parametrize(
    ("algorithm", "extra"),
    [
        ("beam-search", {"beam_width": 2}),
        ("particle-filtering", {}),
        ("particle-filtering", {"resampling": "systematic", "process_reward": "self-certainty"}),
        ("particle-gibbs", {"num_iterations": 2, "reward_aggregation": "min"}),
    ],
)
def test_step_search_builds_answers_step_by_step(pipeline, algorithm, extra):
    events, final = scaled(pipeline, scaling_algorithm=algorithm, budget=4, max_steps=3, **extra)
    result = final.scaling
    assert final.text == result.the_one.text and final.text
    assert all(1 <= c.steps <= 3 for c in result.candidates)
    steps = [e.step for e in events if isinstance(e, ScalingProgress) and e.done]  # (done=0: notes)
    assert steps[0] == 1 and max(steps) <= 3  # progress after every step (per iteration for Gibbs)
    if algorithm == "beam-search":
        assert len(result.candidates) == 4
    elif algorithm == "particle-gibbs":
        assert len(result.candidates) == 2  # 4 = 2 particles x 2 iterations
        assert len(result.details["ref_indices"]) == 2
    else:
        assert len(result.candidates) == 4
        weights = [c.score for c in result.candidates]
        assert result.selected_index == weights.index(max(weights))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scaling_algorithm": "beam-search", "budget": 3, "beam_width": 2}, "multiple of beam_width=2"),
        ({"scaling_algorithm": "particle-gibbs", "budget": 3, "num_iterations": 2}, "num_iterations=2"),
        ({"scaling_algorithm": "best-of-n", "budget": 2, "outcome_reward": "score-model"}, "--score_model"),
        ({"scaling_algorithm": "beam-search", "budget": 2, "process_reward": "prm"}, "--prm_model"),
        ({"scaling_algorithm": "self-consistency", "budget": 2, "n": 2}, "use budget instead"),
        (
            {"scaling_algorithm": "self-consistency", "budget": 2, "answer_projection": "regex"},
            "answer_regex",
        ),
        (
            {
                "scaling_algorithm": "self-consistency",
                "budget": 2,
                "answer_projection": "regex",
                "answer_regex": "(",
            },
            "not a valid regular expression",
        ),
    ],
)
def test_bad_scaling_requests_are_clear_errors(pipeline, fields, message):
    request = AnswerRequest.from_prompt(QUESTION, max_new_tokens=8, collection="LLM", **fields)
    events = list(pipeline.answer(request))
    assert len(events) == 1 and isinstance(events[0], ErrorEvent), events
    assert events[0].kind == "bad_request" and message in events[0].message


def test_options_fall_back_to_settings_and_budget_alone_means_self_consistency():
    settings = Settings(budget=4, beam_width=4)
    request = AnswerRequest.from_prompt(QUESTION, scaling_algorithm="beam-search")
    options = request.scaling_options(settings)
    assert (options.scaling_algorithm, options.budget, options.beam_width) == ("beam-search", 4, 4)
    assert AnswerRequest.from_prompt(QUESTION, budget=8).scaling_options(Settings()).scaling_algorithm == (
        "self-consistency"
    )
    assert AnswerRequest.from_prompt(QUESTION).scaling_options(Settings()).scaling_algorithm == "none"
    # the request's own sampling is passed on as asked (scaling.prepare raises a greedy one)
    assert (
        AnswerRequest.from_prompt(QUESTION, budget=8, temperature=0.3).sampling_params(Settings()).temperature
        == 0.3
    )


@pytest.mark.parametrize(
    ("algorithm", "budget"), [("self-consistency", 64), ("best-of-n", 64), ("particle-filtering", 8)]
)
def test_max_time_bounds_the_whole_scaled_answer(pipeline, algorithm, budget):
    """--max_time / max_time is a ceiling for the whole run, not for each sample."""
    import time

    started = time.monotonic()
    _, final = scaled(
        pipeline,
        scaling_algorithm=algorithm,
        budget=budget,
        max_time=0.3,
        max_new_tokens=200,
        max_steps=50,
        outcome_reward="self-certainty",
        process_reward="self-certainty",
    )
    elapsed = time.monotonic() - started
    assert final.text is not None and final.scaling.candidates
    assert elapsed < 15  # budget x 200 tokens would take minutes here
    if algorithm != "particle-filtering":
        assert len(final.scaling.candidates) < budget  # no batch starts after the time is up


def test_step_search_refuses_more_paths_than_a_batch_holds(pipeline):
    request = AnswerRequest.from_prompt(
        QUESTION, scaling_algorithm="beam-search", budget=64, beam_width=1, collection="LLM", max_new_tokens=8
    )
    (event,) = list(pipeline.answer(request))
    assert isinstance(event, ErrorEvent) and "--max_batch_rows=32" in event.message


class WithoutSharedPrefill:
    """The same backend, declaring no prefix sharing, so it judges each prompt whole (as a
    remote server does)."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.info = backend.info
        self.capabilities = dataclasses.replace(backend.capabilities, prefix_sharing=False)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


def test_judging_prefills_the_shared_question_once_with_the_same_scores(backend):
    from h2ogpt.backends.base import Completion
    from h2ogpt.scaling.rewards.outcome import JudgeYes

    messages = [{"role": "user", "content": QUESTION}]
    answers = [
        Completion(i, text, "stop", 0, 0)
        for i, text in enumerate(
            ["3 x 8 = 24.", "The answer is 24", "It is 11.", "3 times 8 is 21, I think."]
        )
    ]

    def judged(judge_backend):
        task = scaling.ScalingTask(
            backend=judge_backend,
            messages=messages,
            prompt=backend.apply_chat_template(messages),
            params=SamplingParams(max_new_tokens=8),
            options=ScalingOptions(),
        )
        before = backend.engine.prefill_tokens
        scores = JudgeYes().score(task, answers)
        return scores, backend.engine.prefill_tokens - before, task.usage

    shared, shared_tokens, shared_usage = judged(backend)
    whole, whole_tokens, whole_usage = judged(WithoutSharedPrefill(backend))
    # llama.cpp's rounding depends on how tokens are batched: the same scores to within 0.05
    assert shared == pytest.approx(whole, abs=1e-4 if backend.info.engine == "transformers" else 0.05)
    assert shared_tokens < whole_tokens * 0.8  # the instructions and question were encoded once
    assert shared_usage.reward_calls == whole_usage.reward_calls == 4
    assert shared_usage.reward_prompt_tokens < whole_usage.reward_prompt_tokens
