"""Loading options: half precision, LoRA folders, quantization on CPU (the transformers engine),
what the llama.cpp engine refuses, and the context length on every engine."""

from __future__ import annotations

import pytest

from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.llamacpp import native
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
        ({"lora_weights": "adapter_folder"}, "peft adapter folder.*--export_gguf"),
    ],
)
def test_what_the_llamacpp_engine_cannot_do_is_one_clear_line(data_dir, tmp_path, flags, says):
    if "lora_weights" in flags:
        (tmp_path / "adapter_folder").mkdir()
        flags = {"lora_weights": str(tmp_path / "adapter_folder")}
    with pytest.raises(ConfigError, match=says):
        create_backend(Settings(data_dir=data_dir, engine="llama.cpp", **flags))


# --- where llama.cpp runs: --device, or --n_gpu_layers when set ----------------------------
GPU_BUILD = native.gpu_offload_supported()  # make install builds for the CPU: False in CI


def test_device_auto_offloads_only_with_a_gpu_build(data_dir, default_backend):
    assert default_backend.info.device == ("gpu" if GPU_BUILD else "cpu")


def test_device_cuda_with_llamacpp_needs_a_gpu_build(data_dir):
    settings = Settings(data_dir=data_dir, engine="llama.cpp", device="cuda")
    if GPU_BUILD:
        backend = create_backend(settings)
        assert backend.info.device == "gpu"
        backend.close()
    else:
        with pytest.raises(ConfigError, match="--device=cuda: this llama-cpp-python build offloads nothing"):
            create_backend(settings)


def test_n_gpu_layers_wins_over_device(data_dir):
    backend = create_backend(Settings(data_dir=data_dir, engine="llama.cpp", device="cuda", n_gpu_layers=0))
    assert backend.info.device == "cpu"
    backend.close()


def test_n_gpu_layers_runs_where_it_can_and_says_so(data_dir, caplog):
    with caplog.at_level("WARNING", logger="h2ogpt"):
        backend = create_backend(Settings(data_dir=data_dir, engine="llama.cpp", n_gpu_layers=-1))
    assert backend.info.device == ("gpu" if GPU_BUILD else "cpu")
    assert ("sees no GPU; running on the CPU" in caplog.text) == (not GPU_BUILD)
    backend.close()


@pytest.mark.parametrize("engine", ["llama.cpp", "transformers"])
def test_max_seq_len_limits_the_context(data_dir, converted_model_dir, engine):
    backend = create_backend(Settings(data_dir=data_dir, engine=engine, max_seq_len=512))
    assert backend.info.context_length == 512
