"""Real Hugging Face reward models (--score_model, --prm_model) on tiny random-weight models."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from h2ogpt.backends.base import SamplingParams
from h2ogpt.errors import ConfigError
from h2ogpt.scaling import ScalingTask, run
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.scaling.rewards.hf_models import PRM_STEP_SEPARATOR, load_prm, load_score_model

QUESTION = "What is 2 + 3?"
ANSWERS = ["2 + 3 = 5, so the answer is 5.", "The answer is 6.", "5", "I do not know, maybe seven or eight."]
STEPS = [
    ["2 + 3 means adding three to two.", "Two plus three is five.", "The answer is \\boxed{5}."],
    ["2 + 3 = 6."],
    [],
    ["First step.", "Second step."],
]


def tiny_config(tokenizer, num_labels: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=len(tokenizer),
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=512,
    )


def save_tiny(folder: Path, model_class, tokenizer, num_labels: int, seed: int) -> str:
    import torch

    torch.manual_seed(seed)
    model_class(tiny_config(tokenizer, num_labels)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def reward_dirs(tmp_path_factory, converted_model_dir: Path) -> dict[str, str]:
    from transformers import AutoTokenizer, LlamaForSequenceClassification, LlamaForTokenClassification

    root = tmp_path_factory.mktemp("reward-models")

    def tokenizer():
        return AutoTokenizer.from_pretrained(converted_model_dir, local_files_only=True)

    plain = tokenizer()
    dirs = {"score": save_tiny(root / "score", LlamaForSequenceClassification, plain, 1, 0)}
    no_template = tokenizer()
    no_template.chat_template = None
    dirs["pair"] = save_tiny(root / "pair", LlamaForSequenceClassification, no_template, 2, 1)
    with_sep = tokenizer()
    with_sep.add_tokens([PRM_STEP_SEPARATOR], special_tokens=True)
    dirs["prm"] = save_tiny(root / "prm", LlamaForTokenClassification, with_sep, 2, 2)
    dirs["prm_no_sep"] = save_tiny(root / "prm_no_sep", LlamaForTokenClassification, tokenizer(), 2, 3)
    return dirs


@pytest.mark.parametrize("kind", ["score", "pair"])
def test_score_model_batch_matches_single(reward_dirs, kind):
    model = load_score_model(reward_dirs[kind])
    assert load_score_model(reward_dirs[kind]) is model  # cached
    batch = model.score(QUESTION, ANSWERS)
    tokens = list(model.last_tokens)
    assert len(batch) == len(ANSWERS) and all(math.isfinite(s) for s in batch)
    assert len(tokens) == len(ANSWERS) and all(t > 0 for t in tokens)
    assert model.score(QUESTION, ANSWERS) == pytest.approx(batch, abs=1e-6)  # deterministic
    for answer, score, count in zip(ANSWERS, batch, tokens, strict=True):
        assert model.score(QUESTION, [answer]) == pytest.approx([score], abs=1e-4)
        assert model.last_tokens == [count]
    if kind == "pair":  # two labels: the probability of the last one
        assert all(0 < s < 1 for s in batch)
    assert len(set(batch)) > 1  # the answers are told apart


def test_prm_step_scores(reward_dirs):
    prm = load_prm(reward_dirs["prm"])
    batch = prm.step_scores(QUESTION, STEPS)
    assert [len(s) for s in batch] == [len(s) for s in STEPS]
    assert all(0 < x < 1 for scores in batch for x in scores)
    assert len(prm.last_tokens) == 3 and all(t > 0 for t in prm.last_tokens)  # the empty path costs none
    assert prm.step_scores(QUESTION, STEPS) == batch  # deterministic
    for steps, scores in zip(STEPS, batch, strict=True):
        single = prm.step_scores(QUESTION, [steps])
        assert single[0] == pytest.approx(scores, abs=1e-4)
    # a step's score depends only on the steps up to it (causal model)
    prefix = prm.step_scores(QUESTION, [STEPS[0][:2]])[0]
    assert prefix == pytest.approx(batch[0][:2], abs=1e-4)
    assert prm.step_scores(QUESTION, []) == [] and prm.step_scores(QUESTION, [[]]) == [[]]


def test_missing_folder_and_wrong_models(tmp_path, reward_dirs, converted_model_dir):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"^--score_model=.*nowhere: no such folder") as info:
        load_score_model(missing)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^--prm_model=.*nowhere: no such folder"):
        load_prm(missing)
    with pytest.raises(ConfigError, match=r"--score_model=.*no config.json"):
        load_score_model(str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"--score_model=.*LlamaForCausalLM is not a sequence-classification"
    ):
        load_score_model(str(converted_model_dir))
    with pytest.raises(ConfigError, match=r"--prm_model=.*LlamaForCausalLM is not a process reward model"):
        load_prm(str(converted_model_dir))
    with pytest.raises(ConfigError, match=r"--prm_model=.*no step separator token '<extra_0>'"):
        load_prm(reward_dirs["prm_no_sep"])
    no_template = shutil.copytree(reward_dirs["prm"], tmp_path / "no-template")
    (no_template / "chat_template.jinja").unlink()
    with pytest.raises(ConfigError, match=r"--prm_model=.*no chat template"):
        load_prm(str(no_template))


def test_best_of_n_with_score_model(backend, reward_dirs):
    messages = [{"role": "user", "content": QUESTION}]
    task = ScalingTask(
        backend=backend,
        messages=messages,
        prompt=backend.apply_chat_template(messages),
        params=SamplingParams(max_new_tokens=24, temperature=0.7, seed=1),
        options=ScalingOptions(scaling_algorithm="best-of-n", budget=3, outcome_reward="score-model"),
        score_model=reward_dirs["score"],
    )
    result = run(task)
    assert len(result.candidates) == 3
    scores = [c.score for c in result.candidates]
    assert len({c.text for c in result.candidates}) > 1  # sampled apart, so really scored
    expected = load_score_model(reward_dirs["score"]).score(QUESTION, [c.text for c in result.candidates])
    assert scores == pytest.approx(expected, abs=1e-4)
    assert result.selected_index == scores.index(max(scores))
    assert result.details["reward"] == "score-model"
    assert result.usage.reward_calls >= 1 and result.usage.reward_prompt_tokens > 0


def test_beam_search_with_prm(backend, reward_dirs):
    messages = [{"role": "user", "content": QUESTION}]
    task = ScalingTask(
        backend=backend,
        messages=messages,
        prompt=backend.apply_chat_template(messages),
        params=SamplingParams(max_new_tokens=32, temperature=0.7, seed=1),
        options=ScalingOptions(
            scaling_algorithm="beam-search", budget=2, beam_width=1, max_steps=2, process_reward="prm"
        ),
        prm_model=reward_dirs["prm"],
    )
    result = run(task)
    assert result.details["reward"] == "prm"
    assert len(result.candidates) == 2
    assert all(0 < c.score < 1 for c in result.candidates)
    prm = load_prm(reward_dirs["prm"])
    for candidate in result.candidates:  # the path's score is its last step's (aggregation "last")
        steps = candidate.text.split(task.options.step_token)
        assert len(steps) == candidate.steps
        assert prm.step_scores(QUESTION, [steps])[0][-1] == pytest.approx(candidate.score, abs=1e-4)
    assert result.usage.reward_calls >= 1 and result.usage.reward_prompt_tokens > 0
