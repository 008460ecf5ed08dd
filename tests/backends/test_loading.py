"""Loading options: half precision, LoRA folders, quantization on CPU (the transformers engine),
what the llama.cpp engine refuses, and the context length on every engine."""

from __future__ import annotations

import pytest

from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.selection import create_backend
from h2ogpt.errors import ConfigError, ModelNotFoundError
from h2ogpt.settings import Settings


def test_load_half_on_cpu_is_bfloat16_and_answers(data_dir, converted_model_dir):
    backend = create_backend(Settings(data_dir=data_dir, engine="transformers", load_half=True))
    assert (backend.info.dtype, backend.info.device) == ("bfloat16", "cpu")
    prompt = backend.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}])
    assert "Paris" in backend.sample(prompt, SamplingParams(max_new_tokens=12))[0].text
    backend.close()


def test_lora_folder_without_adapter_is_a_clear_error(data_dir, converted_model_dir, tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"adapter_config\.json"):
        create_backend(Settings(data_dir=data_dir, engine="transformers", lora_weights=str(tmp_path)))


@pytest.mark.parametrize("flag", ["load_8bit", "load_4bit"])
def test_quantization_needs_a_gpu(data_dir, converted_model_dir, flag):
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        create_backend(Settings(data_dir=data_dir, engine="transformers", device="cpu", **{flag: True}))


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ({"load_8bit": True}, "--load_8bit applies to the transformers engine"),
        ({"load_half": True}, "--load_half applies to the transformers engine"),
        ({"device": "cuda"}, "--n_gpu_layers"),
        ({"lora_weights": "adapter_folder"}, "peft adapter folder.*--export_gguf"),
    ],
)
def test_what_the_llamacpp_engine_cannot_do_is_one_clear_line(data_dir, tmp_path, flags, says):
    if "lora_weights" in flags:
        (tmp_path / "adapter_folder").mkdir()
        flags = {"lora_weights": str(tmp_path / "adapter_folder")}
    with pytest.raises(ConfigError, match=says):
        create_backend(Settings(data_dir=data_dir, engine="llama.cpp", **flags))


@pytest.mark.parametrize("engine", ["llama.cpp", "transformers"])
def test_max_seq_len_limits_the_context(data_dir, converted_model_dir, engine):
    backend = create_backend(Settings(data_dir=data_dir, engine=engine, max_seq_len=512))
    assert backend.info.context_length == 512
