"""Settings: every option of h2oGPT, declared once, in groups.

CLI flags (``--name=value``), ``H2OGPT_<NAME>`` environment variables and the defaults
of every face are all derived from the fields of :class:`Settings`. The flags stay flat
(h2oGPT's names); inside, Settings is composed of option groups, each declared next to the
code it configures where that code has a package (``scaling.options``,
``documents.options``) and here otherwise. A field may be declared by one group only:
:class:`ComposedSettings` refuses a class in which a field would silently shadow another.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from h2ogpt.documents.options import NO_DOCUMENTS, DocumentOptions
from h2ogpt.images.options import ImageOptions
from h2ogpt.plugins import PluginName
from h2ogpt.scaling.options import RewardModelOptions, ScalingOptions
from h2ogpt.vision.options import VisionOptions

__all__ = ["NO_DOCUMENTS", "ComposedSettings", "Settings"]

G = TypeVar("G", bound=BaseModel)


def default_data_dir() -> Path:
    """Where chats, collections and converted models live unless ``--data_dir`` says otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "h2ogpt"


class ComposedSettings(BaseModel):
    """Base of every settings class made of option groups (the bases after it).

    Each field is declared by exactly one class of the hierarchy; a class that declares a
    field again fails at definition. ``flag_aliases`` maps an old flag name to its field
    (accepted with a deprecation notice).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    flag_aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        owners: dict[str, str] = {}
        for klass in cls.__mro__:
            if klass in (BaseModel, ComposedSettings) or not issubclass(klass, BaseModel):
                continue
            for name in inspect.get_annotations(klass):
                if name.startswith("_") or name not in cls.model_fields:
                    continue
                if name in owners:
                    raise TypeError(
                        f"{cls.__name__}: field {name!r} is declared by both {owners[name]} and "
                        f"{klass.__name__}; give one of them another name"
                    )
                owners[name] = klass.__name__

    @classmethod
    def option_groups(cls) -> list[type[BaseModel]]:
        """The option groups this class is made of, in declaration order."""
        return [
            base
            for base in cls.__mro__[1:]
            if issubclass(base, BaseModel)
            and base not in (BaseModel, ComposedSettings)
            and not issubclass(base, ComposedSettings)
        ]

    def group(self, group: type[G]) -> G:
        """This group's options as their own object (e.g. ``settings.group(ScalingOptions)``)."""
        return group.model_validate({name: getattr(self, name) for name in group.model_fields})


class ModelOptions(BaseModel):
    """Which model answers, and how it is loaded."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        "",
        description="Model to chat with: a preset name (models/*.toml, e.g. qwen2.5-coder-0.5b-instruct), "
        "a .gguf file, a local HF model folder, or a HF model id already in the local cache. Empty: the "
        "embedded SmolLM2-135M-Instruct.",
    )
    engine: Annotated[str, PluginName("backends", also=("auto",), exclude_if="remote")] = Field(
        "auto",
        description="Local engine for --base_model: llama.cpp (GGUF files), transformers (HF folders, "
        "LoRA training, GPU) or a plug-in's engine. auto: llama.cpp for a .gguf file, transformers for "
        "an HF folder or id.",
    )
    inference_server: str = Field(
        "",
        description="Remote serving engine: vllm:URL, vllm_chat:URL, openai:[URL], openai_chat:[URL], "
        "ollama:[URL], tgi:URL or a bare http(s)://host:port/v1 (see docs/remote.md). Empty: run the "
        "model locally.",
    )
    lora_weights: str = Field("", description="Folder of a peft LoRA adapter to apply to the base model.")
    load_8bit: bool = Field(False, description="Load weights in 8-bit with bitsandbytes (CUDA GPU only).")
    load_4bit: bool = Field(False, description="Load weights in 4-bit with bitsandbytes (CUDA GPU only).")
    load_half: bool = Field(
        False, description="Load weights in half precision (float16 on GPU, bfloat16 on CPU)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the local model runs; auto picks a CUDA GPU when there is one (llama.cpp: "
        "when its build has GPU support; --n_gpu_layers overrides).",
    )
    max_seq_len: int = Field(
        0,
        ge=0,
        description="Context length in tokens (prompt + answer). 0: the model's own limit "
        "(llama.cpp: capped at 8192; remote: the server's max_model_len, else 4096).",
    )
    n_gpu_layers: int | None = Field(
        None,
        ge=-1,
        description="llama.cpp: layers offloaded to the GPU (-1: all, 0: none). Unset: from --device "
        "(auto: all when this llama-cpp-python build sees a GPU, cpu: none, cuda: all).",
    )
    n_threads: int = Field(0, ge=0, description="llama.cpp: CPU threads for decoding; 0: one per core.")
    llama_amx: Literal["auto", "on", "off"] = Field(
        "auto",
        description="llama.cpp on an AMX Xeon: its AMX kernels. auto: when the build has the tile-config "
        "fix that `make install` compiles in (GCC < 14 builds without it crash); on: a build known good.",
    )
    prompt_type: str = Field(
        "",
        description="Prompt format when the model has no chat template (plain, chatml, llama2, "
        "mistral, zephyr, human_bot). Empty: the model's chat template.",
    )
    system_prompt: str = Field(
        "auto", description="System prompt. 'auto': the model's default; '' (empty): none."
    )


class SamplingDefaults(BaseModel):
    """How tokens are chosen, unless a request says otherwise."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(256, ge=1, description="Most tokens generated for one answer.")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="Sampling temperature; 0 = greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling: keep tokens up to this mass.")
    top_k: int = Field(50, ge=0, description="Sample among the k most likely tokens; 0 = no limit.")
    repetition_penalty: float = Field(
        1.0, gt=0.0, description="Penalty > 1 discourages repeating tokens already in the text."
    )
    seed: int | None = Field(None, description="Random seed for sampling; None: a fresh seed each time.")
    max_time: float = Field(
        600.0, gt=0.0, description="Seconds after which generation stops and returns what it has."
    )


class StorageOptions(BaseModel):
    """Where the app keeps what it saves."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for converted models, saved chats and document collections.",
    )
    database_url: str = Field(
        "",
        description="PostgreSQL for saved chats, signed-up users and (with --chroma_url) collection "
        "catalogs, shared by every replica: postgresql://user:password@host:5432/database. Empty: "
        "SQLite files under --data_dir (one machine).",
    )


class TerminalOptions(BaseModel):
    """The terminal chat."""

    model_config = ConfigDict(extra="forbid")

    cli: bool = Field(False, description="Chat in the terminal instead of the browser UI.")
    cli_loop: bool = Field(True, description="With --cli: keep chatting; False answers --prompt once.")
    prompt: str = Field(
        "", description="With --cli_loop=False: the question to answer (read from stdin when empty)."
    )
    speak: bool = Field(
        False,
        description="With --cli: also speak each answer through the default audio output (needs "
        "--enable_tts and a sound device).",
    )


class SpeechOptions(BaseModel):
    """Voice: speech-to-text and text-to-speech (the API's /v1/audio routes, the UI's microphone
    and speaker, spoken answers in the terminal, audio documents)."""

    model_config = ConfigDict(extra="forbid")

    enable_stt: bool = Field(
        True,
        description="Speech-to-text (faster-whisper): the API's /v1/audio/transcriptions and the UI's "
        "microphone. On where the model is installed; it loads on first use.",
    )
    enable_tts: bool = Field(
        True,
        description="Text-to-speech (Piper): the API's /v1/audio/speech, the UI's speaker and --speak. "
        "On where the voice is installed; it loads on first use.",
    )
    asr_model: str = Field(
        "",
        description="Speech-to-text model: a local CTranslate2 Whisper folder (model.bin, config.json, "
        "tokenizer.json). Empty: the embedded Whisper tiny.en (English).",
    )
    tts_model: str = Field(
        "",
        description="Text-to-speech voice: a Piper .onnx voice file (its .onnx.json beside it) or a "
        "folder of them, one voice each. Empty: the embedded en_US joe voice.",
    )
    tts_speed: float = Field(
        1.0, ge=0.25, le=4.0, description="Default speaking speed (0.25 to 4.0; 2.0 is twice as fast)."
    )
    enable_transcriptions: bool = Field(
        True,
        description="Ingest audio files (.wav .mp3 .m4a .ogg .opus .flac .webm, the audio of .mp4) into "
        "collections as their transcripts, cited with time spans.",
    )


class UIOptions(BaseModel):
    """The browser UI."""

    model_config = ConfigDict(extra="forbid")

    gradio: bool = Field(True, description="Serve the browser UI (when not --cli).")
    server_name: str = Field("127.0.0.1", description="Address the browser UI and the API listen on.")
    server_port: int = Field(7860, ge=1, le=65535, description="Port of the browser UI.")
    share: bool = Field(
        False,
        description="Also publish the browser UI through a public gradio.live link (reaches the network).",
    )
    root_path: str = Field(
        "", description="URL path the browser UI is served under behind a proxy, e.g. /h2ogpt."
    )
    auth: str = Field(
        "",
        description="Browser UI logins: 'user:password' pairs, comma-separated, or the path of a file "
        "(one user:password per line, or h2oGPT's JSON {user: {password: ...}}). Empty: no login, "
        "everyone is --guest_name.",
    )
    auth_access: Literal["open", "closed"] = Field(
        "open",
        description="With --auth: 'open' lets a new user name sign up with its first password; "
        "'closed' admits only the users of --auth.",
    )
    guest_name: str = Field(
        "guest",
        min_length=1,
        description="The browser UI's user when there is no --auth (chats saved under it).",
    )
    model_lock: str = Field(
        "",
        description="Compare models side by side in the browser UI: a JSON list of up to 4 objects with "
        "base_model and/or inference_server (optional prompt_type, lora_weights, visible_models name).",
    )


class APIOptions(BaseModel):
    """The OpenAI-compatible API."""

    model_config = ConfigDict(extra="forbid")

    openai_server: bool = Field(
        False, description="Also serve the OpenAI-compatible API (python generate.py --openai_server=True)."
    )
    openai_port: int = Field(5000, ge=1, le=65535, description="Port of the OpenAI-compatible API.")
    api_keys: str = Field(
        "",
        description="API keys the OpenAI-compatible API accepts as 'Authorization: Bearer KEY': "
        "comma-separated, or the path of a file with one key per line. Empty: no key needed.",
    )
    max_queue: int = Field(
        64, ge=1, description="Requests the API holds at once (running or waiting); more get 429."
    )


class RuntimeOptions(BaseModel):
    """How the process runs."""

    model_config = ConfigDict(extra="forbid")

    max_batch_rows: int = Field(
        32, ge=1, description="Most sequences the local model decodes together when requests are merged."
    )
    verbose: bool = Field(False, description="Log debug details.")


class Settings(
    ComposedSettings,
    ModelOptions,
    SamplingDefaults,
    ScalingOptions,
    RewardModelOptions,
    DocumentOptions,
    StorageOptions,
    TerminalOptions,
    SpeechOptions,
    ImageOptions,
    VisionOptions,
    UIOptions,
    APIOptions,
    RuntimeOptions,
):
    """All options of ``generate.py`` and the API server. Field descriptions are the ``--help``
    text; ``option_groups()`` lists the groups, ``group(G)`` gives one group's values."""
