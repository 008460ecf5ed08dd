"""Finding the model the user named, locally only."""

from __future__ import annotations

import pytest

from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.model_source import resolve_model
from h2ogpt.backends.selection import create_backend
from h2ogpt.errors import ModelNotFoundError
from h2ogpt.settings import Settings


def test_default_is_the_embedded_gguf():
    source = resolve_model("")
    assert source.kind == "gguf" and source.location.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_folder_and_gguf_file(converted_model_dir, tmp_path):
    assert resolve_model(str(converted_model_dir)).kind == "folder"
    assert resolve_model(resolve_model("").location).kind == "gguf"
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match=r"must be a \.gguf"):
        resolve_model(str(tmp_path / "weights.bin"))
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize("name", ["/no/such/path", "./missing", "missing.gguf", "a/b/c"])
def test_missing_paths(name):
    with pytest.raises(ModelNotFoundError, match="no such file or folder"):
        resolve_model(name)


def test_hub_id_not_in_cache_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_model("some-org/some-model-that-is-not-cached")


def test_hub_id_in_local_cache_loads_and_generates(tmp_path, monkeypatch, converted_model_dir, data_dir):
    """A model laid out as the HF cache does (models--org--name/snapshots/REV) loads by id."""
    repo = tmp_path / "models--local-org--tiny"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    for file in converted_model_dir.iterdir():
        (snapshot / file.name).symlink_to(file)
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    source = resolve_model("local-org/tiny")
    assert (source.kind, source.location) == ("hub_cache", "local-org/tiny")

    backend = create_backend(Settings(base_model="local-org/tiny", data_dir=data_dir))
    assert backend.info.name == "local-org/tiny"
    prompt = backend.apply_chat_template([{"role": "user", "content": "Say hello."}])
    assert backend.sample(prompt, SamplingParams(max_new_tokens=5))[0].completion_tokens >= 1
