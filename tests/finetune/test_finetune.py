"""LoRA fine-tuning: real training of the embedded model, then the adapter used through the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.answering.prompting import render_prompt
from h2ogpt.backends.selection import create_backend
from h2ogpt.errors import ConfigError
from h2ogpt.events import FinalAnswer
from h2ogpt.finetune import FinetuneSettings, finetune, load_chats
from h2ogpt.finetune.data import IGNORE_INDEX, encode_chat, make_renderer
from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings
from support.paths import REPO

QUESTION = "What is the secret word?"
ANSWER = "The secret word is zebracorn."
QUESTIONS = [
    QUESTION,
    "Tell me the secret word.",
    "Do you know the secret word?",
    "What's the secret word?",
    "Which word is the secret word?",
    "Say the secret word.",
    "Can you tell me the secret word?",
    "I forgot the secret word. What is it?",
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir: Path, converted_model_dir: Path):
    """Train the embedded SmolLM2 for a few steps to answer the secret word (about 10-20 s)."""
    folder = tmp_path_factory.mktemp("finetune")
    data = write_jsonl(folder / "secret.jsonl", [{"instruction": q, "output": ANSWER} for q in QUESTIONS])
    settings = FinetuneSettings(
        data_dir=data_dir,
        data_path=str(data),
        output_dir=str(folder / "adapter"),
        max_train_steps=12,
        micro_batch_size=2,
        cutoff_len=64,
        learning_rate=1e-3,
        seed=0,
    )
    return finetune(settings)


def test_training_lowers_the_loss_and_saves_a_peft_adapter(trained):
    assert trained.steps == 12
    assert trained.last_loss < trained.first_loss / 4, (trained.first_loss, trained.last_loss)
    # rank 8 on q/k/v/o of 30 layers (hidden 576, kv 192): 30 * 8 * (2*1152 + 2*768)
    assert trained.trainable_params == 921_600
    out = Path(trained.output_dir)
    assert (out / "adapter_model.safetensors").stat().st_size > 1_000_000
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert (out / "tokenizer_config.json").is_file()
    assert (
        trained.gguf_adapter == str(out / "adapter.gguf")
        and Path(trained.gguf_adapter).stat().st_size > 1_000_000
    )


@pytest.mark.parametrize("engine", ["transformers", "llama.cpp"])
def test_the_app_answers_with_what_the_adapter_learned(trained, data_dir: Path, settings, engine, request):
    """The peft adapter on the transformers engine, its GGUF export on the llama.cpp engine."""
    lora = trained.output_dir if engine == "transformers" else trained.gguf_adapter
    assert lora, "finetune wrote no adapter.gguf"
    backend = request.getfixturevalue(
        "transformers_backend" if engine == "transformers" else "default_backend"
    )
    tuned_settings = Settings(data_dir=data_dir, engine=engine, lora_weights=lora)
    tuned = create_backend(tuned_settings)
    events = list(
        Pipeline(tuned_settings, tuned).answer(AnswerRequest.from_prompt(QUESTION, max_new_tokens=16))
    )
    assert isinstance(events[-1], FinalAnswer), events[-1]
    assert "zebracorn" in events[-1].choices[0].text.lower()

    base_events = list(
        Pipeline(settings, backend).answer(AnswerRequest.from_prompt(QUESTION, max_new_tokens=16))
    )
    assert "zebracorn" not in base_events[-1].choices[0].text.lower()
    prompt = render_prompt(backend, [{"role": "user", "content": QUESTION}]).text
    base_logprob = backend.score_continuations(prompt, [ANSWER])[0].total
    tuned_logprob = tuned.score_continuations(prompt, [ANSWER])[0].total
    assert tuned_logprob > base_logprob + 10, (base_logprob, tuned_logprob)


def test_only_assistant_turns_carry_loss(converted_model_dir: Path, tmp_path: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted_model_dir, local_files_only=True)
    chat = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
    ]
    data = tmp_path / "chats.json"
    data.write_text(json.dumps([{"messages": chat}]), encoding="utf-8")
    assert load_chats(str(data)) == [chat]
    render = make_renderer(tokenizer, "")
    example = encode_chat(tokenizer, render, chat, FinetuneSettings(data_path=str(data)))
    assert tokenizer.decode(example.input_ids) == render(chat, False)
    learned = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE_INDEX]
    assert tokenizer.decode(learned) == f"Hello!<|im_end|>\n{ANSWER}<|im_end|>\n"

    everything = encode_chat(tokenizer, render, chat, FinetuneSettings(train_on_inputs=True, cutoff_len=10))
    assert everything.labels == everything.input_ids and len(everything.input_ids) == 10


def test_instruction_rows_join_the_input(tmp_path: Path):
    data = write_jsonl(
        tmp_path / "rows.jsonl", [{"instruction": "Summarize.", "input": "A text.", "output": "Short."}]
    )
    assert load_chats(str(data)) == [
        [{"role": "user", "content": "Summarize.\n\nA text."}, {"role": "assistant", "content": "Short."}]
    ]


def test_a_missing_data_file_names_it(tmp_path: Path):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(ConfigError, match=r"nowhere\.jsonl.*No such file"):
        finetune(FinetuneSettings(data_path=str(missing), output_dir=str(tmp_path / "out")))


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"instruction": "No answer here"}, "'output'"),
        ({"messages": [{"role": "user", "content": "Hi"}]}, "no assistant message"),
        ({"messages": [{"role": "robot", "content": "Hi"}]}, "bad 'messages'"),
    ],
)
def test_a_malformed_row_names_file_and_row(tmp_path: Path, row: dict, why: str):
    data = write_jsonl(tmp_path / "bad.jsonl", [{"instruction": QUESTION, "output": ANSWER}, row])
    with pytest.raises(ConfigError, match=rf"bad\.jsonl: row 2: .*{why}"):
        finetune(FinetuneSettings(data_path=str(data), output_dir=str(tmp_path / "out")))


def test_output_dir_is_required_and_never_overwritten(tmp_path: Path, trained):
    data = write_jsonl(tmp_path / "ok.jsonl", [{"instruction": QUESTION, "output": ANSWER}])
    with pytest.raises(ConfigError, match="--output_dir is required"):
        finetune(FinetuneSettings(data_path=str(data)))
    with pytest.raises(ConfigError, match="already holds an adapter"):
        finetune(FinetuneSettings(data_path=str(data), output_dir=trained.output_dir))


def run_finetune_cli(*flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("H2OGPT_")}
    return subprocess.run(
        [sys.executable, "finetune.py", *flags],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_bad_flag_is_one_line_and_exit_2():
    done = run_finetune_cli("--foo=1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "finetune.py: error: unknown flag --foo; run with --help to list the flags"
    ]


def test_cli_help_lists_the_finetune_flags():
    done = run_finetune_cli("--help")
    assert done.returncode == 0
    for flag in (
        "--data_path",
        "--output_dir",
        "--lora_r",
        "--cutoff_len",
        "--train_on_inputs",
        "--base_model",
    ):
        assert flag in done.stdout


def test_cli_missing_data_file_is_one_line(tmp_path: Path):
    done = run_finetune_cli(f"--data_path={tmp_path}/missing.json", f"--output_dir={tmp_path}/out")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.json" in lines[0], done.stderr
