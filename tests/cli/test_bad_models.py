"""A model that cannot be used is one clear line and exit code 2 from the CLI (a 503 naming it
from the API), and leaves nothing half-written in the data dir."""

from __future__ import annotations

import shutil

import pytest

from h2ogpt.backends.model_source import embedded_gguf_path
from support.processes import run_generate


def one_line_error(result, *says: str) -> None:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and all(s in errors[0] for s in says), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b"this is a text file, not a model\n" * 10, "not a GGUF model"),
        ("truncated", "could not be loaded by llama.cpp"),
    ],
)
def test_a_bad_gguf_file(tmp_path, content, says):
    model = tmp_path / "model.gguf"
    if content == "truncated":
        with embedded_gguf_path().open("rb") as whole:
            model.write_bytes(whole.read(2_000_000))
    else:
        model.write_bytes(content)
    result = run_generate(
        "--cli=True", "--cli_loop=False", "--prompt=Hi", f"--base_model={model}", data_dir=tmp_path / "data"
    )
    one_line_error(result, str(model), says)


def test_a_preset_whose_pack_is_not_installed(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "ghost.toml").write_text(
        'name = "ghost"\ndisplay_name = "Ghost"\nfile = "ghost.gguf"\nsize = 10\nsha256 = "'
        + "0" * 64
        + '"\n'
        '[source]\nkind = "parts"\ndistribution = "ghost-part{index}==1.0"\npackage = "ghost_part{index}"\n'
        'path = "data/part{index:02d}.bin"\ncount = 2\n'
    )
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--prompt=Hi",
        "--base_model=ghost",
        data_dir=tmp_path / "data",
        env={"H2OGPT_MODELS_DIR": str(models)},
    )
    one_line_error(result, "--base_model=ghost", "ghost-part1==1.0", "make models")
    assert not (tmp_path / "data" / "models").exists() or not any((tmp_path / "data" / "models").iterdir())


def test_a_context_overflow_is_a_request_error(tmp_path):
    result = run_generate(
        "--cli=True", "--cli_loop=False", "--max_seq_len=64", "--prompt=" + "word " * 200, data_dir=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "prompt tokens but only" in result.stderr and "Traceback" not in result.stderr


def test_a_good_copy_of_the_model_file_works_as_base_model(tmp_path):
    model = tmp_path / "copy.gguf"
    shutil.copy(embedded_gguf_path(), model)
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--max_new_tokens=12",
        "--prompt=What is the capital of Japan?",
        f"--base_model={model}",
        data_dir=tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    assert "Tokyo" in result.stdout and "with llama.cpp" in result.stderr
