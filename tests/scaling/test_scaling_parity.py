"""Parity with its_hub: for the same candidates, steps and scores, our scaling algorithms
select what its_hub (the reference implementation, installed) selects.

Both sides run on scripted models (tests/scripted_models.py): answers, steps and rewards
are deterministic functions of their input text, so any difference in the results is a
difference in the algorithms. Randomness is aligned by seeding: its_hub draws from the
global ``random`` (and ``np.random`` for systematic resampling), we draw from
``task.rng = random.Random(seed)``; the same seed gives the same draws when both consume
them in the same order, which is what these tests check over many seeds.

Deliberate differences are tested as such (not as parity):
- ``max_steps``: its_hub's StepGeneration stops a path when the steps *before* the new
  one number ``max_steps``, so a path can have ``max_steps + 1`` steps; ours has at most
  ``max_steps``. Parity runs compare our ``max_steps = k + 1`` with its_hub's ``k``.
- self-consistency: responses without an answer do not vote in ours (its_hub counts the
  projection ``None`` as an answer); ``text`` collapses inner whitespace too.
- its_hub's ParticleFiltering ignores ``resampling_method`` (always multinomial).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from functools import partial

import numpy as np
import pytest
from its_hub.algorithms import BeamSearch, BestOfN, ParticleFiltering, ParticleGibbs, SelfConsistency
from its_hub.core.algorithms.beta_self_consistency import BetaSelfConsistency
from its_hub.core.algorithms.self_consistency import create_regex_projection_function
from its_hub.core.lms.step_generation import StepGeneration
from its_hub.core.orchestrator import LMOrchestrator

from h2ogpt import scaling
from h2ogpt.backends.base import SamplingParams
from h2ogpt.scaling.algorithms.particles import systematic_indices
from h2ogpt.scaling.beta import majority_confidence
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.scaling.steps import StepGenerator
from support.scripted_models import (
    PROMPT,
    STEP_TOKEN,
    STOP_PATTERN,
    ScriptedBackend,
    ScriptedLM,
    ScriptedORM,
    ScriptedOurOutcomeReward,
    ScriptedOurProcessReward,
    ScriptedPRM,
    digest,
    scripted_probability,
    scripted_score,
    scripted_step,
)

SEEDS = range(30)
BOXED = r"\\boxed\{(\d+)\}"


def make_task(
    backend: ScriptedBackend,
    seed: int,
    max_batch: int = 32,
    outcome_reward=None,
    process_reward=None,
    **options,
) -> scaling.ScalingTask:
    """A task over ``backend``; the rewards are handed in as objects (names are not needed)."""
    return scaling.ScalingTask(
        backend=backend,
        messages=[{"role": "user", "content": "what is 6 x 4?"}],
        prompt=PROMPT,
        params=SamplingParams(max_new_tokens=256, temperature=0.7),
        options=ScalingOptions(**{"stop_when_decided": False, **options}),  # its_hub samples all
        seed=seed,
        max_batch=max_batch,
        outcome_reward=outcome_reward,
        process_reward=process_reward,
    )


def reversed_order(n: int) -> list[int]:
    """Samples of a batch finishing last-first: results must still be in index order."""
    return list(reversed(range(n)))


def run_its_hub(algorithm, lm, budget: int, seed: int):
    random.seed(seed)
    return algorithm.infer(lm, PROMPT, budget, return_response_only=False)


def inline_orchestrator() -> LMOrchestrator:
    """No semaphore (its default one acquires in worker threads): calls run in order."""
    return LMOrchestrator(max_concurrency=-1)


# --- self-consistency --------------------------------------------------------------------
TEXT_POOL = [
    "The answer is 24.",
    "  The answer is 24.\n",
    "The answer is 42.",
    "24",
    "\n24 ",
    "It is 6 x 4 = 24.",
    "The answer is 42.  ",
]


def regex_pool_text(seed: int, i: int) -> str:
    h = digest("regex", seed, i)
    lead = ["So ", "Thus the total is ", "", "Answer: "][h % 4]
    return f"{lead}\\boxed{{{[24, 42, 24, 7, 18][h // 4 % 5]}}}{' .'[h // 20 % 2]}"


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 8, 13])
def test_self_consistency_text_projection_matches_its_hub(budget):
    ties = 0
    for seed in SEEDS:
        texts = [TEXT_POOL[digest(seed, budget, i) % len(TEXT_POOL)] for i in range(budget)]
        backend = ScriptedBackend(texts, order=reversed_order)
        task = make_task(
            backend,
            seed,
            max_batch=3,
            scaling_algorithm="self-consistency",
            answer_projection="text",
            math_equivalence=False,
        )
        ours = scaling.run(task, budget)
        theirs = run_its_hub(
            SelfConsistency(orchestrator=inline_orchestrator()), ScriptedLM(texts), budget, seed
        )
        assert [c.text for c in ours.candidates] == [r["content"] for r in theirs.responses] == texts
        assert ours.selected_index == theirs.selected_index, (seed, texts)
        assert ours.votes == dict(theirs.response_counts)
        ties += Counter(theirs.response_counts.values())[max(theirs.response_counts.values())] > 1
    if budget > 1:
        assert ties, "no tie was broken: the seeded tie-break went unchecked"


@pytest.mark.parametrize("budget", [2, 4, 7, 12])
@pytest.mark.parametrize("equivalence", [False, True])
def test_self_consistency_regex_projection_matches_its_hub(budget, equivalence):
    for seed in SEEDS if not equivalence else range(8):
        texts = [regex_pool_text(seed, i) for i in range(budget)]
        backend = ScriptedBackend(texts)
        task = make_task(
            backend,
            seed,
            max_batch=5,
            scaling_algorithm="self-consistency",
            answer_projection="regex",
            answer_regex=BOXED,
            math_equivalence=equivalence,
        )
        ours = scaling.run(task, budget)
        algorithm = SelfConsistency(
            create_regex_projection_function(BOXED), orchestrator=inline_orchestrator()
        )
        theirs = run_its_hub(algorithm, ScriptedLM(texts), budget, seed)
        assert ours.selected_index == theirs.selected_index, (seed, texts)
        assert ours.votes == {key[0]: n for key, n in theirs.response_counts.items()}


def test_responses_without_an_answer_do_not_vote_unlike_its_hub():
    """A documented improvement: its_hub votes for the projection ``(None,)`` and so picks
    an answerless response when those are the most common; ours counts only answers."""
    texts = [
        "I am not sure.",
        "\\boxed{24}",
        "Hmm, hard to say.",
        "\\boxed{7}",
        "\\boxed{24} it is",
        "No idea",
    ]
    for seed in range(10):
        task = make_task(
            ScriptedBackend(texts),
            seed,
            scaling_algorithm="self-consistency",
            answer_projection="regex",
            answer_regex=BOXED,
        )
        ours = scaling.run(task, len(texts))
        algorithm = SelfConsistency(
            create_regex_projection_function(BOXED), orchestrator=inline_orchestrator()
        )
        theirs = run_its_hub(algorithm, ScriptedLM(texts), len(texts), seed)
        assert theirs.response_counts[(None,)] == 3
        assert theirs.selected_index in (0, 2, 5)  # its_hub: an answer without an answer
        assert ours.votes == {"24": 2, "7": 1}
        assert ours.selected_index in (1, 4) and ours.the_one.answer == "24"
        assert [c.answer for c in ours.candidates] == [None, "24", None, "7", "24", None]


def test_text_projection_also_collapses_inner_whitespace_unlike_its_hub():
    texts = ["The answer is  24.", "The answer is 24.", "42", "42 ", "The answer\nis 24."]
    task = make_task(
        ScriptedBackend(texts),
        0,
        scaling_algorithm="self-consistency",
        answer_projection="text",
        math_equivalence=False,
    )
    ours = scaling.run(task, len(texts))
    assert ours.votes == {"The answer is 24.": 3, "42": 2}
    assert ours.selected_index in (0, 1, 4)
    theirs = run_its_hub(
        SelfConsistency(orchestrator=inline_orchestrator()), ScriptedLM(texts), len(texts), 0
    )
    assert theirs.response_counts["42"] == 2 and max(theirs.response_counts.values()) == 2


def test_beta_stopping_probability_matches_its_hub_on_a_grid():
    for v1 in range(41):
        for v2 in range(v1 + 1):
            assert majority_confidence(v1, v2) == BetaSelfConsistency.beta_stopping_probability(v1, v2)
    assert majority_confidence(4, 0) == 1 - 1 / 32 and majority_confidence(3, 0) < 0.95 < majority_confidence(
        4, 0
    )
    assert majority_confidence(0, 0) == 0.5 and majority_confidence(5, 5) == 0.5


@pytest.mark.parametrize("threshold", [0.8, 0.9, 0.95, 0.99])
def test_adaptive_self_consistency_stops_where_its_hub_would(threshold):
    """Samples arriving one at a time: ours stops after the same number as its_hub's
    BetaSelfConsistency rule (checked with its own functions) and selects the same one."""
    budget = 16
    stopped = 0
    for seed in SEEDS:
        texts = [
            regex_pool_text(seed % 7, i) if digest(seed, i) % 3 else "\\boxed{24}" for i in range(budget)
        ]
        task = make_task(
            ScriptedBackend(texts),
            seed,
            max_batch=budget,
            scaling_algorithm="self-consistency",
            answer_projection="regex",
            answer_regex=BOXED,
            math_equivalence=False,
            adaptive=True,
            confidence_threshold=threshold,
        )
        ours = scaling.run(task, budget)

        algorithm = BetaSelfConsistency(threshold, create_regex_projection_function(BOXED))
        responses = [{"role": "assistant", "content": t} for t in texts]
        used = budget
        for n in range(2, budget):
            _, projected = algorithm._project_responses(responses[:n])
            top = [count for _, count in Counter(projected).most_common(2)] + [0]
            if algorithm.beta_stopping_probability(top[0], top[1]) >= threshold:
                used = n
                break
        random.seed(seed)
        theirs = algorithm._process_responses(responses[:used], return_response_only=False)

        assert len(ours.candidates) == used and ours.stopped_early == (used < budget)
        assert ours.selected_index == theirs.selected_index
        stopped += ours.stopped_early
    assert 0 < stopped < len(SEEDS)  # both outcomes occur: stopping early and using the budget


# --- best-of-n ---------------------------------------------------------------------------
BON_POOL = ["\\boxed{24}", "It is 24", "42", "\\boxed{24}", "6*4=24", "forty-two", "24."]


@pytest.mark.parametrize("levels", [0, 3])  # 0: distinct scores; 3: many ties (first best wins)
@pytest.mark.parametrize("budget", [1, 2, 4, 7, 12])
def test_best_of_n_matches_its_hub(budget, levels):
    for seed in SEEDS:
        texts = [BON_POOL[digest("bon", seed, budget, i) % len(BON_POOL)] for i in range(budget)]
        score = partial(scripted_score, salt=seed, levels=levels)
        our_reward = ScriptedOurOutcomeReward(score)
        task = make_task(
            ScriptedBackend(texts, order=reversed_order),
            seed,
            max_batch=3,
            outcome_reward=our_reward,
            scaling_algorithm="best-of-n",
        )
        ours = scaling.run(task, budget)
        orm = ScriptedORM(score)
        theirs = run_its_hub(
            BestOfN(orm, orchestrator=inline_orchestrator()), ScriptedLM(texts), budget, seed
        )
        assert [c.text for c in ours.candidates] == [r["content"] for r in theirs.responses] == texts
        assert [c.score for c in ours.candidates] == theirs.scores
        assert ours.selected_index == theirs.selected_index
        assert our_reward.calls == orm.calls  # each distinct answer scored once, in the same order
        assert all(len(set(call)) == len(call) for call in orm.calls)


def test_best_of_n_identical_answers_are_not_scored():
    texts = ["\\boxed{24}"] * 5
    our_reward = ScriptedOurOutcomeReward(scripted_score)
    task = make_task(ScriptedBackend(texts), 0, outcome_reward=our_reward, scaling_algorithm="best-of-n")
    ours = scaling.run(task, 5)
    orm = ScriptedORM(scripted_score)
    theirs = run_its_hub(BestOfN(orm, orchestrator=inline_orchestrator()), ScriptedLM(texts), 5, 0)
    assert [c.score for c in ours.candidates] == theirs.scores == [1.0] * 5
    assert ours.selected_index == theirs.selected_index == 0
    assert our_reward.calls == orm.calls == []


# --- step search -------------------------------------------------------------------------
def step_models(salt, texts_levels: int = 0):
    """Our backend and its_hub's LM with the same step script, and both process rewards."""
    step = partial(scripted_step, salt)
    probability = partial(scripted_probability, salt=salt, levels=texts_levels)
    backend = ScriptedBackend(step=step)
    lm = ScriptedLM(step=step)
    return backend, lm, ScriptedOurProcessReward(probability), ScriptedPRM(probability)


def step_task(reward, backend: ScriptedBackend, seed: int, **options) -> scaling.ScalingTask:
    """A step-search task whose process reward is the object ``reward``."""
    return make_task(backend, seed, process_reward=reward, **options)


def step_generation(max_steps: int) -> StepGeneration:
    return StepGeneration(max_steps=max_steps, step_token=STEP_TOKEN, stop_token=STOP_PATTERN)


def assert_same_steps(backend, lm, ours_prm, theirs_prm) -> None:
    """Both extended the same paths in the same order and scored the same partial answers."""
    assert backend.step_calls == lm.step_calls
    assert ours_prm.calls == theirs_prm.calls


def test_its_hub_max_steps_allows_one_more_step_than_ours():
    """The documented off-by-one: its_hub checks the steps *before* the new one."""
    never_stop = lambda batch, position, prefix: f"step {prefix.count(STEP_TOKEN) + 1}"  # noqa: E731
    backend, lm = ScriptedBackend(step=never_stop), ScriptedLM(step=never_stop)
    reward = ScriptedOurProcessReward(lambda texts: 0.5)
    task = step_task(reward, backend, 0, scaling_algorithm="beam-search", beam_width=1, max_steps=3)
    ours = scaling.run(task, 1)
    theirs = run_its_hub(BeamSearch(step_generation(3), ScriptedPRM(lambda t: 0.5), 1), lm, 1, 0)
    assert ours.the_one.steps == 3 and theirs.steps_used == [4]


@pytest.mark.parametrize(("beam_width", "budget"), [(1, 1), (1, 3), (2, 2), (2, 6), (3, 6), (4, 8)])
@pytest.mark.parametrize("levels", [0, 4])  # 4: coarse scores, so ties test the stable sort
def test_beam_search_matches_its_hub(beam_width, budget, levels):
    depths = set()
    for seed in SEEDS:
        max_steps = 2 + seed % 4
        backend, lm, ours_prm, theirs_prm = step_models(("beam", seed), levels)
        task = step_task(
            ours_prm,
            backend,
            seed,
            scaling_algorithm="beam-search",
            beam_width=beam_width,
            max_steps=max_steps + 1,
        )
        ours = scaling.run(task, budget)
        theirs = run_its_hub(BeamSearch(step_generation(max_steps), theirs_prm, beam_width), lm, budget, seed)
        assert_same_steps(backend, lm, ours_prm, theirs_prm)
        assert [c.text for c in ours.candidates] == [r["content"] for r in theirs.responses]
        assert [c.score for c in ours.candidates] == theirs.scores
        assert [c.steps for c in ours.candidates] == theirs.steps_used
        assert ours.selected_index == theirs.selected_index
        assert ours.text == theirs.the_one["content"]
        depths.update(theirs.steps_used)
    assert len(depths) > 1  # paths stopped by the stop pattern at several depths


@pytest.mark.parametrize("budget", [1, 2, 4, 6])
@pytest.mark.parametrize("selection", ["argmax", "sample"])
def test_particle_filtering_matches_its_hub(budget, selection):
    for seed in SEEDS:
        max_steps = 2 + seed % 4
        backend, lm, ours_prm, theirs_prm = step_models(("pf", seed))
        task = step_task(
            ours_prm,
            backend,
            seed,
            scaling_algorithm="particle-filtering",
            max_steps=max_steps + 1,
            final_selection=selection,
        )
        ours = scaling.run(task, budget)
        algorithm = ParticleFiltering(
            step_generation(max_steps), theirs_prm, final_response_selection=selection
        )
        theirs = run_its_hub(algorithm, lm, budget, seed)
        assert_same_steps(backend, lm, ours_prm, theirs_prm)
        assert [c.text for c in ours.candidates] == [r["content"] for r in theirs.responses]
        assert ours.details["log_weights"][0] == pytest.approx(theirs.log_weights_lst, rel=1e-12, abs=1e-12)
        assert [c.steps for c in ours.candidates] == theirs.steps_used_lst
        assert ours.selected_index == theirs.selected_index
        assert ours.details["ref_indices"] == [[]]
        assert random.random() == task.rng.random()  # both drew exactly as many numbers


def test_its_hub_particle_filtering_ignores_its_resampling_method():
    for seed in range(5):
        results = []
        for method in ("multinomial", "systematic"):
            _, lm, _, prm = step_models(("pf-method", seed))
            algorithm = ParticleFiltering(step_generation(3), prm, resampling_method=method)
            assert algorithm.resampling_method.value == "multinomial"
            results.append(run_its_hub(algorithm, lm, 4, seed).responses)
        assert results[0] == results[1]


def count_cut_references(monkeypatch) -> list[int]:
    """Counts paths given new rows that already have steps: reference particles drawn
    as free ones and cut back to the current step."""
    cut: list[int] = []
    original = StepGenerator.restart

    def restart(self, paths):
        cut.append(sum(1 for p in paths if p.steps))
        return original(self, paths)

    monkeypatch.setattr(StepGenerator, "restart", restart)
    return cut


@pytest.mark.parametrize(("num_iterations", "particles"), [(2, 2), (2, 4), (3, 3), (3, 5)])
@pytest.mark.parametrize("resampling", ["multinomial", "systematic"])
def test_particle_gibbs_matches_its_hub(monkeypatch, num_iterations, particles, resampling):
    """Weights, reference particles and the answers of every iteration agree. For systematic
    resampling its_hub's offset ``np.random.uniform`` is made to draw from the seeded global
    ``random``, the way ours draws it from ``task.rng``."""
    if resampling == "systematic":
        monkeypatch.setattr(
            np.random, "uniform", lambda low=0.0, high=1.0: low + (high - low) * random.random()
        )
    cut = count_cut_references(monkeypatch)
    budget = num_iterations * particles
    for seed in SEEDS:
        max_steps = 2 + seed % 4
        backend, lm, ours_prm, theirs_prm = step_models(("pg", seed))
        task = step_task(
            ours_prm,
            backend,
            seed,
            scaling_algorithm="particle-gibbs",
            num_iterations=num_iterations,
            num_ref_particles=1,
            resampling=resampling,
            max_steps=max_steps + 1,
        )
        ours = scaling.run(task, budget)
        algorithm = ParticleGibbs(
            step_generation(max_steps),
            theirs_prm,
            num_iterations=num_iterations,
            num_ref_particles=1,
            resampling_method=resampling,
        )
        theirs = run_its_hub(algorithm, lm, budget, seed)
        assert_same_steps(backend, lm, ours_prm, theirs_prm)
        assert ours.details["answers"] == [[r["content"] for r in rs] for rs in theirs.responses_lst]
        assert ours.details["ref_indices"] == theirs.ref_indices_lst
        assert len(ours.details["log_weights"]) == num_iterations
        for our_weights, their_weights in zip(
            ours.details["log_weights"], theirs.log_weights_lst, strict=True
        ):
            assert our_weights == pytest.approx(their_weights, rel=1e-12, abs=1e-12)
        assert [c.steps for c in ours.candidates] == theirs.steps_used_lst[-1]
        assert ours.selected_index == theirs.selected_index
        assert ours.text == theirs.the_one["content"]
        assert random.random() == task.rng.random()
    assert sum(cut), "no reference particle was ever resampled as a free one and cut back"


def test_systematic_resampling_matches_its_hub():
    """``systematic_indices`` with u = RandomState(seed).uniform(0, 1) is its_hub's
    ``_resampling_systematic`` with np.random seeded the same."""
    algorithm = ParticleGibbs(step_generation(3), ScriptedPRM(lambda t: 0.5), resampling_method="systematic")
    fixed = [[0.0, 0.5, 0.0, 0.5], [1.0], [0.0, 0.0, 1.0], [0.25] * 4, [0.1, 0.2, 0.3, 0.4]]
    cases = 0
    for seed in range(200):
        if seed < 25:
            probabilities = fixed[seed % len(fixed)]
        else:
            logits = np.random.RandomState(seed).normal(size=1 + seed % 8) * 2
            probabilities = list(np.exp(logits) / np.exp(logits).sum())
        for count in (1, 2, 3, 5, 8):
            np.random.seed(seed)
            theirs = algorithm._resampling_systematic(
                list(range(len(probabilities))), np.asarray(probabilities), count
            )
            u = np.random.RandomState(seed).uniform(0, 1)
            assert systematic_indices(probabilities, count, u) == theirs, (seed, probabilities, count)
            cases += 1
    assert cases == 1000


def test_scripted_models_run_under_asyncio_in_submission_order():
    """The premise of the sampling parity tests: the inline orchestrator calls the LM in order."""
    lm = ScriptedLM([f"answer {i}" for i in range(20)])
    responses = asyncio.run(inline_orchestrator().agenerate(lm, [[]] * 20))
    assert [r["content"] for r in responses] == [f"answer {i}" for i in range(20)]


@pytest.mark.parametrize("budget", [3, 5, 8, 13])
def test_stopping_when_decided_keeps_the_winning_answer(budget):
    """Cancelling samples that can no longer change the vote gives its_hub's answer."""
    stopped = 0
    for seed in SEEDS:
        texts = [TEXT_POOL[digest("decided", seed, budget, i) % len(TEXT_POOL)] for i in range(budget)]
        quick = scaling.run(
            make_task(
                ScriptedBackend(texts),
                seed,
                scaling_algorithm="self-consistency",
                answer_projection="text",
                math_equivalence=False,
                stop_when_decided=True,
            ),
            budget,
        )
        theirs = run_its_hub(
            SelfConsistency(orchestrator=inline_orchestrator()), ScriptedLM(texts), budget, seed
        )
        winners = {a for a, v in theirs.response_counts.items() if v == max(theirs.response_counts.values())}
        if len(winners) == 1:
            assert quick.the_one.text.strip() in winners
        stopped += quick.stopped_early
        assert len(quick.candidates) <= budget
    assert stopped, "no run was decided early"
