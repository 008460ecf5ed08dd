"""Names at the edge: the one place where the names of flags and request fields become
the algorithm, reward and projection objects a scaling run uses, and where the backend's
declared capabilities are checked against what they need."""

from __future__ import annotations

import dataclasses

from h2ogpt import plugins
from h2ogpt.backends.base import require_capabilities
from h2ogpt.errors import RequestError
from h2ogpt.scaling.options import AUTO_REWARD, DEFAULT_SCALING_TEMPERATURE, ScalingOptions
from h2ogpt.scaling.specs import AlgorithmSpec, OutcomeReward, ProcessReward, Projection, RewardSpec
from h2ogpt.scaling.task import ScalingTask

# ``auto`` rewards: the named reward model when the server has one, else the chat model as judge
AUTO_OUTCOME = ("score-model", "score_model", "judge")
AUTO_PROCESS = ("prm", "prm_model", "judge")


def _named(registry: plugins.Registry, name: str, field: str):
    try:
        return registry.get(name, field)
    except plugins.UnknownPlugin as exc:
        raise RequestError(str(exc)) from None


def algorithm_named(name: str) -> AlgorithmSpec:
    return _named(plugins.scaling_algorithms, name, "scaling_algorithm")


def projection_named(name: str, options: ScalingOptions) -> Projection:
    return _named(plugins.answer_projections, name, "answer_projection").create(options)


def _reward_spec(task: ScalingTask, registry: plugins.Registry, field: str, auto: tuple) -> RewardSpec:
    name = getattr(task.options, field)
    if name == AUTO_REWARD:
        model_reward, folder_field, fallback = auto
        name = model_reward if getattr(task, folder_field) else fallback
    return _named(registry, name, field)


def outcome_reward_named(task: ScalingTask) -> OutcomeReward:
    spec = _reward_spec(task, plugins.outcome_rewards, "outcome_reward", AUTO_OUTCOME)
    require_capabilities(task.backend, spec.requires, f"outcome_reward={spec.name}")
    return spec.create(task)


def process_reward_named(task: ScalingTask) -> ProcessReward:
    spec = _reward_spec(task, plugins.process_rewards, "process_reward", AUTO_PROCESS)
    require_capabilities(task.backend, spec.requires, f"process_reward={spec.name}")
    return spec.create(task)


def sampling_note(temperature: float) -> str:
    return (
        f"temperature {temperature:g} would draw identical candidates; they are sampled at "
        f"temperature {DEFAULT_SCALING_TEMPERATURE:g}"
    )


def prepare(task: ScalingTask, algorithm: AlgorithmSpec | None = None) -> AlgorithmSpec:
    """The algorithm to run, with the task's missing reward or projection made from the
    options' names; RequestError (a 400, exit 2) when the backend lacks a capability.

    An algorithm that samples never samples greedily (every candidate would be the same
    answer): a greedy temperature becomes DEFAULT_SCALING_TEMPERATURE, noted on the task."""
    spec = algorithm or algorithm_named(task.options.scaling_algorithm)
    require_capabilities(task.backend, spec.requires, f"scaling_algorithm={spec.name}")
    if spec.samples and task.params.greedy:
        task.notes.append(sampling_note(task.params.temperature))
        task.params = dataclasses.replace(task.params, temperature=DEFAULT_SCALING_TEMPERATURE)
    if spec.reward == "outcome" and task.outcome_reward is None:
        task.outcome_reward = outcome_reward_named(task)
    if spec.reward == "process" and task.process_reward is None:
        task.process_reward = process_reward_named(task)
    if task.projection is None:
        task.projection = projection_named(task.options.answer_projection, task.options)
    return spec
