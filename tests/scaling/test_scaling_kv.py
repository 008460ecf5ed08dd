"""Step search keeps each particle's KV cache: the prompt is encoded once per lineage."""

from __future__ import annotations

import dataclasses

import pytest

from h2ogpt import scaling
from h2ogpt.backends.base import SamplingParams
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.scaling.steps import TextStepSession

MESSAGES = [{"role": "user", "content": "Explain step by step: what is 12 + 7? Use short paragraphs."}]
STEP = "\n\n"


class WithoutStepSessions:
    """The same backend, declaring no step sessions (like a remote server)."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.info = backend.info
        self.capabilities = dataclasses.replace(backend.capabilities, step_sessions=False)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


def prompt_text(backend) -> str:
    return backend.apply_chat_template(MESSAGES)


def agree(a: str, b: str, exact: bool) -> bool:
    """Equal texts, or (inexact) texts that start alike: 40 characters, or the shorter one."""
    if exact:
        return a == b
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return common >= min(40, len(a), len(b))


def test_steps_from_the_cache_equal_one_uninterrupted_greedy_answer(backend):
    """Rows that pause, are copied and resume produce exactly the plain greedy answer (on
    llama.cpp, whose rounding depends on the batch's layout, an answer that starts the same:
    a later near tie may go either way)."""
    exact = backend.info.engine == "transformers"
    prompt = prompt_text(backend)
    whole = backend.sample(prompt, SamplingParams(max_new_tokens=90), 1)[0].text
    params = SamplingParams(max_new_tokens=90, stop=(STEP,))
    session = backend.open_steps(prompt, params, 2)
    steps: list[str] = []
    try:
        for _ in range(12):
            first, second = session.extend([0, 1], params)
            assert agree(first.text, second.text, exact)  # greedy copies stay identical
            steps.append(first.text)
            if first.ended or not exact:  # inexact: once copies may differ, so do their futures
                break
            session.select([1, 0, 0])  # reorder and copy rows, as resampling does
            session.extend([2], params)  # one row alone: the others wait, masked out
            session.select([0, 1])
    finally:
        session.close()
    assert agree(STEP.join(steps), whole, exact)
    assert session.prompt_encodes == 1


def run_particles(backend, seed: int = 5, **options) -> tuple[scaling.ScalingResult, int]:
    """A particle run with a free reward; returns the result and the prompt tokens encoded."""
    messages = MESSAGES
    task = scaling.ScalingTask(
        backend=backend,
        messages=messages,
        prompt=prompt_text(backend),
        params=SamplingParams(max_new_tokens=48, temperature=0.8, seed=seed),
        options=ScalingOptions(process_reward="self-certainty", max_steps=4, **options),
        seed=seed,
    )
    before = backend.engine.prefill_tokens
    result = scaling.run(task)
    return result, backend.engine.prefill_tokens - before


def test_particle_filtering_encodes_the_prompt_once(backend):
    prompt_tokens = len(backend.engine.encode(prompt_text(backend)))
    for seed in range(5, 12):  # the first seed whose particles take more than one step
        result, encoded = run_particles(backend, seed, scaling_algorithm="particle-filtering", budget=4)
        if max(c.steps for c in result.candidates) >= 2:  # resampled at least once
            break
    assert max(c.steps for c in result.candidates) >= 2
    assert encoded == prompt_tokens  # one prefill for all particles, over every step

    text_backend = WithoutStepSessions(backend)
    task = scaling.ScalingTask(
        backend=text_backend,
        messages=MESSAGES,
        prompt=prompt_text(backend),
        params=SamplingParams(max_new_tokens=48, temperature=0.8, seed=5),
        options=ScalingOptions(
            scaling_algorithm="particle-filtering", budget=4, process_reward="self-certainty", max_steps=4
        ),
        seed=5,
    )
    before = backend.engine.prefill_tokens
    text_result = scaling.run(task)
    resent = backend.engine.prefill_tokens - before
    steps_taken = sum(c.steps for c in text_result.candidates)
    assert resent >= prompt_tokens * min(steps_taken, 4 * 2)  # prompt + prefix sent every step


@pytest.mark.parametrize("iterations", [2, 3])
def test_particle_gibbs_encodes_once_per_lineage(backend, iterations):
    """Each iteration starts its free particles from one prefill; a reference particle cut
    back to the current step is the only other thing encoded again."""
    prompt_tokens = len(backend.engine.encode(prompt_text(backend)))
    result, encoded = run_particles(
        backend, scaling_algorithm="particle-gibbs", budget=3 * iterations, num_iterations=iterations
    )
    assert len(result.details["ref_indices"]) == iterations
    lineages = encoded / prompt_tokens
    # cut-back references add at most one row per step and iteration; never one per particle per step
    assert lineages < iterations * (1 + 4)
    if backend.info.engine == "transformers":
        assert lineages >= iterations  # one fresh prefill per iteration
    else:
        assert lineages < iterations  # llama.cpp: new lineages copy the prompt's cached rows


def test_text_sessions_resend_the_prefix(backend):
    """The fallback for servers: each step's request is prompt + steps so far."""
    task = scaling.ScalingTask(
        backend=WithoutStepSessions(backend),
        messages=MESSAGES,
        prompt=prompt_text(backend),
        params=SamplingParams(max_new_tokens=120),
        options=ScalingOptions(),
    )
    session = TextStepSession(task, 1)
    params = SamplingParams(max_new_tokens=120, stop=(STEP,))
    first = session.extend([0], params)[0]
    assert not first.ended and first.completion_tokens < 120
    before = backend.engine.prefill_tokens
    second = session.extend([0], params)[0]
    resent = backend.engine.prefill_tokens - before
    assert second.text and session.prompt_encodes == 2
    prompt_tokens = len(backend.engine.encode(task.prompt))
    assert resent >= prompt_tokens + backend.count_tokens(first.text)  # prompt and first step, again
