"""The options of inference-time scaling, declared once.

:class:`~h2ogpt.settings.Settings` inherits them (so each is a ``--flag`` and an
``H2OGPT_*`` variable giving the default), and :class:`~h2ogpt.request.AnswerRequest`
carries an optional copy of each (so every face, the API's extra body fields included,
can set them per request). The meaning of ``budget`` follows its_hub so results compare.
Algorithms, rewards and projections are plug-ins: their fields name a registered one.
"""

from __future__ import annotations

import copy
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from h2ogpt.plugins import PluginName

NO_SCALING = "none"
AUTO_REWARD = "auto"
MAX_BUDGET = 1000  # its_hub's limit too

# Sampling temperature of the candidates when neither the request nor --temperature asks for
# sampling: with greedy decoding every candidate would be the same answer.
DEFAULT_SCALING_TEMPERATURE = 0.7


class ScalingOptions(BaseModel):
    """How an answer is searched for when ``scaling_algorithm`` is not ``none``."""

    model_config = ConfigDict(extra="forbid")

    scaling_algorithm: Annotated[str, PluginName("scaling_algorithms", also=(NO_SCALING,))] = Field(
        NO_SCALING,
        description="Inference-time scaling: none, self-consistency (majority vote), best-of-n "
        "(outcome reward), beam-search, particle-filtering or particle-gibbs (process reward, step by step).",
    )
    budget: int = Field(
        1,
        ge=1,
        le=MAX_BUDGET,
        description="Scaling budget as in its_hub: samples (self-consistency, best-of-n), samples per "
        "step (beam-search), particles (particle-filtering), particles x iterations (particle-gibbs).",
    )
    answer_projection: Annotated[str, PluginName("answer_projections")] = Field(
        "auto",
        description="What self-consistency votes on: auto (\\boxed{} content, else the last number, "
        "else the text), boxed, last-number, regex (--answer_regex), choice (A-E letter) or text.",
    )
    answer_regex: str = Field(
        "", description="With answer_projection=regex: a pattern whose first group (or match) is the answer."
    )
    math_equivalence: bool = Field(
        True, description="Self-consistency counts mathematically equal answers (1/2 and 0.5) as one."
    )
    stop_when_decided: bool = Field(
        True,
        description="Self-consistency stops sampling (cancelling the rest) once no remaining samples "
        "could change the winning answer; the chosen answer is the same as with every sample.",
    )
    adaptive: bool = Field(
        False,
        description="Self-consistency stops sampling once the leader is confidently decided (Beta "
        "posterior, as its_hub's BetaSelfConsistency); unfinished samples are cancelled.",
    )
    confidence_threshold: float = Field(
        0.95, gt=0.5, le=1.0, description="With adaptive: the posterior probability that stops sampling."
    )
    outcome_reward: Annotated[str, PluginName("outcome_rewards", also=(AUTO_REWARD,))] = Field(
        AUTO_REWARD,
        description="Best-of-n's reward: judge (probability the chat model says Yes, it is correct), "
        "judge-score (the judge's 0-10 score), self-certainty (mean token log-probability), "
        "score-model (--score_model). auto: score-model when --score_model is set, else judge.",
    )
    process_reward: Annotated[str, PluginName("process_rewards", also=(AUTO_REWARD,))] = Field(
        AUTO_REWARD,
        description="Step search's reward for each step: judge (probability the chat model says the "
        "steps are correct), self-certainty (the step's tokens' probability), prm (--prm_model). "
        "auto: prm when --prm_model is set, else judge.",
    )
    reward_aggregation: Literal["last", "min", "prod", "model"] = Field(
        "last",
        description="How step scores make one score: the last step's, the minimum, the product, or "
        "'model' (the reward model judges the whole partial solution at once).",
    )
    beam_width: int = Field(
        2, ge=1, description="Beam search: beams kept after each step; must divide budget."
    )
    num_iterations: int = Field(
        2, ge=1, description="Particle Gibbs: iterations; budget = particles x iterations."
    )
    num_ref_particles: int = Field(
        1, ge=0, description="Particle Gibbs: reference particles carried into the next iteration."
    )
    resampling: Literal["multinomial", "systematic"] = Field(
        "multinomial", description="Particle resampling scheme."
    )
    final_selection: Literal["argmax", "sample"] = Field(
        "argmax", description="Particle methods: take the highest-weight particle, or sample by weight."
    )
    step_token: str = Field("\n\n", description="Step search: text that ends a step.")
    stop_pattern: str = Field(
        "\\boxed", description="Step search: a step containing this text ends the answer."
    )
    max_steps: int = Field(8, ge=1, le=256, description="Step search: most steps in an answer.")


class RewardModelOptions(BaseModel):
    """Reward models on this machine (server-wide; a request names the reward, not a folder)."""

    model_config = ConfigDict(extra="forbid")

    score_model: str = Field(
        "",
        description="Local HF sequence-classification reward model folder scoring whole answers "
        "(outcome_reward=score-model). Empty: none.",
    )
    prm_model: str = Field(
        "",
        description="Local HF process reward model folder (Qwen2.5-Math-PRM style) scoring each step "
        "(process_reward=prm). Empty: none.",
    )


def _optional_fields() -> dict:
    """Each option again, defaulting to None (= the Settings' value), constraints kept."""
    fields = {}
    for name, info in ScalingOptions.model_fields.items():
        field = copy.deepcopy(info)
        field.default = None
        field.description = f"{info.description} None: the --{name} default."
        fields[name] = (info.annotation | None, field)
    return fields


# The scaling part of a request: every option may be left out to take the server's default.
ScalingRequestFields = create_model(
    "ScalingRequestFields", __config__=ConfigDict(extra="forbid"), **_optional_fields()
)


def merge_options(request: BaseModel, defaults: ScalingOptions) -> ScalingOptions:
    """The options a request asks for, its unset ones taken from ``defaults``.

    A request that sets only a budget above 1 (its_hub's IaaS form: ``budget`` or the
    ``X-ITS-Budget`` header) gets self-consistency, its_hub's default algorithm.
    """
    values = {name: getattr(request, name) for name in ScalingOptions.model_fields}
    chosen = {name: value for name, value in values.items() if value is not None}
    base = {name: getattr(defaults, name) for name in ScalingOptions.model_fields}
    merged = {**base, **chosen}
    if (
        merged["scaling_algorithm"] == NO_SCALING
        and chosen.get("budget", 1) > 1
        and "scaling_algorithm" not in chosen
    ):
        merged["scaling_algorithm"] = "self-consistency"
    return ScalingOptions(**merged)
