"""The built-in scaling algorithms, rewards and answer projections, registered as any
plug-in registers its own (see ``h2ogpt.plugins``)."""

from __future__ import annotations

from h2ogpt.plugins import hookimpl
from h2ogpt.scaling import projections
from h2ogpt.scaling.specs import AlgorithmSpec, ProjectionSpec, RewardSpec

STEP_SEARCH_NEEDS = ("raw_continuation",)  # a partial answer is continued as text


@hookimpl
def register_scaling_algorithms(register) -> None:
    from h2ogpt.scaling.algorithms.beam_search import beam_search
    from h2ogpt.scaling.algorithms.best_of_n import best_of_n
    from h2ogpt.scaling.algorithms.particles import particle_filtering, particle_gibbs
    from h2ogpt.scaling.algorithms.self_consistency import self_consistency

    register(
        AlgorithmSpec(
            "self-consistency", self_consistency, "Self-consistency", "majority vote over budget samples"
        )
    )
    register(
        AlgorithmSpec(
            "best-of-n", best_of_n, "Best-of-n", "the best of budget samples by an outcome reward", "outcome"
        )
    )
    register(
        AlgorithmSpec(
            "beam-search",
            beam_search,
            "Beam search",
            "step by step, keeping the beam_width best paths",
            "process",
            STEP_SEARCH_NEEDS,
        )
    )
    register(
        AlgorithmSpec(
            "particle-filtering",
            particle_filtering,
            "Particle filtering",
            "step by step, particles resampled by a process reward",
            "process",
            STEP_SEARCH_NEEDS,
        )
    )
    register(
        AlgorithmSpec(
            "particle-gibbs",
            particle_gibbs,
            "Particle Gibbs",
            "particle filtering repeated with reference particles",
            "process",
            STEP_SEARCH_NEEDS,
        )
    )


@hookimpl
def register_outcome_rewards(register) -> None:
    from h2ogpt.scaling.rewards import outcome

    register(
        RewardSpec("judge", lambda task: outcome.JudgeYes(), "P(Yes) that the chat model says it is correct")
    )
    register(
        RewardSpec("judge-score", lambda task: outcome.JudgeScore(), "the chat model's expected 0-10 grade")
    )
    register(
        RewardSpec(
            "self-certainty",
            lambda task: outcome.SelfCertainty(),
            "mean token log-probability of the answer",
            ("logprobs",),
        )
    )
    register(RewardSpec("score-model", outcome.ScoreModel.for_task, "the --score_model reward model"))


@hookimpl
def register_process_rewards(register) -> None:
    from h2ogpt.scaling.rewards import process

    register(RewardSpec("judge", process.JudgeSteps, "P(Yes) that the chat model says the steps are correct"))
    register(
        RewardSpec("self-certainty", process.StepCertainty, "each step's token probability", ("logprobs",))
    )
    register(RewardSpec("prm", process.ProcessRewardModel, "the --prm_model process reward model"))


@hookimpl
def register_answer_projections(register) -> None:
    fixed = {
        "auto": (projections.auto_answer, "\\boxed{} content, else the last number, else the text"),
        "boxed": (projections.boxed_answer, "the \\boxed{} content"),
        "last-number": (projections.last_number, "the last number"),
        "choice": (projections.choice_letter, "a multiple-choice letter A-E"),
        "text": (projections.whole_text, "the whole text"),
    }
    for name, (projection, description) in fixed.items():
        register(ProjectionSpec(name, lambda options, projection=projection: projection, description))
    register(
        ProjectionSpec(
            "regex",
            lambda options: projections.regex_from_options(options.answer_regex),
            "the first group of answer_regex",
        )
    )
