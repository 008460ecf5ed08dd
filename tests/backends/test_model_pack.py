"""Model presets and packs: a pack's chunk packages are joined once, checked against the
pinned SHA-256, and refused whole when they do not match (nothing half-written is left)."""

from __future__ import annotations

import hashlib
import sys

import pytest

from h2ogpt.backends.model_pack import preset_file
from h2ogpt.backends.model_source import resolve_model
from h2ogpt.backends.presets import ModelPreset, find_preset, presets, with_preset_defaults
from h2ogpt.errors import ModelNotFoundError
from h2ogpt.settings import Settings

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 1500, b"c" * 7]


@pytest.fixture
def fake_pack(tmp_path, monkeypatch) -> ModelPreset:
    """Three chunk packages on sys.path, laid out as the real ones (``data/partNN.bin``)."""
    site = tmp_path / "site"
    for index, chunk in enumerate(CHUNKS, 1):
        data = site / f"fakepack_part{index}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("raise RuntimeError('pack code must never run')\n")
        (data / f"part{index:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(CHUNKS)
    return ModelPreset(
        name="fake-pack",
        display_name="Fake",
        file="fake.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        source={
            "kind": "parts",
            "distribution": "fakepack-part{index}",
            "package": "fakepack_part{index}",
            "path": "data/part{index:02d}.bin",
            "count": len(CHUNKS),
        },
    )


def test_the_catalogue_has_the_embedded_model_and_the_packs():
    assert {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"} <= set(
        presets()
    )
    qwen = find_preset("Qwen2.5-Coder-0.5B-Instruct")  # names are case-insensitive
    assert qwen.size == 491_400_064 and qwen.parts == 6 and qwen.license == "Apache-2.0"
    assert resolve_model("smollm2-135m-instruct").location == resolve_model("").location


def test_a_pack_is_joined_once_and_verified(fake_pack, tmp_path):
    path = preset_file(fake_pack, tmp_path / "data")
    assert path.read_bytes() == b"".join(CHUNKS)
    assert "fakepack_part1" not in sys.modules  # located as data, never imported
    stamp = path.with_name(path.name + ".verified")
    assert stamp.is_file()
    before = path.stat().st_mtime_ns
    assert preset_file(fake_pack, tmp_path / "data") == path and path.stat().st_mtime_ns == before


def test_a_wrong_digest_is_refused_and_nothing_is_left_behind(fake_pack, tmp_path):
    wrong = ModelPreset(**{**fake_pack.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelNotFoundError, match=r"--base_model=fake-pack: .* not the pinned .*refusing it"):
        preset_file(wrong, tmp_path / "data")
    assert list((tmp_path / "data" / "models").iterdir()) == []


def test_a_changed_file_is_checked_again(fake_pack, tmp_path):
    path = preset_file(fake_pack, tmp_path / "data")
    path.write_bytes(b"GGUF tampered")
    assert preset_file(fake_pack, tmp_path / "data").read_bytes() == b"".join(CHUNKS)


def test_a_missing_pack_names_its_packages_and_make_models(fake_pack, tmp_path):
    missing = ModelPreset(**{**fake_pack.__dict__, "source": {**fake_pack.source, "count": 5}})
    with pytest.raises(
        ModelNotFoundError, match=r"missing fakepack-part4, fakepack-part5\); run `make models`"
    ):
        preset_file(missing, tmp_path / "data")


def test_preset_sampling_applies_where_the_user_set_none():
    chosen = Settings.model_validate({"base_model": "qwen2.5-coder-0.5b-instruct", "top_p": 0.5})
    settings = with_preset_defaults(chosen)
    assert (settings.temperature, settings.top_p, settings.top_k) == (0.7, 0.5, 20)
    assert with_preset_defaults(Settings()) == Settings()  # the embedded default: unchanged
