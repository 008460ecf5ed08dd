"""Settings: every option of h2oGPT, declared once.

CLI flags (``--name=value``), ``H2OGPT_<NAME>`` environment variables and the defaults
of every face are all derived from the fields of :class:`Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field

from h2ogpt.scaling_options import ScalingOptions

NO_DOCUMENTS = "LLM"  # the --langchain_mode / collection value meaning: chat without documents


def default_data_dir() -> Path:
    """Where chats, collections and converted models live unless ``--data_dir`` says otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "h2ogpt"


class Settings(ScalingOptions):
    """All options. Field descriptions are the ``--help`` text; the scaling options
    (``--scaling_algorithm``, ``--budget``, ...) come from ScalingOptions."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- model ---------------------------------------------------------------------------
    base_model: str = Field(
        "",
        description="Model to chat with: a local HF model folder, a HF model id already in the "
        "local cache, or a .gguf file. Empty: the embedded SmolLM2-135M-Instruct.",
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
        "auto", description="Where the local model runs; auto picks a CUDA GPU when there is one."
    )
    max_seq_len: int = Field(
        0,
        ge=0,
        description="Context length in tokens (prompt + answer). 0: the model's own limit "
        "(remote: the server's max_model_len, else 4096).",
    )

    # --- prompting -----------------------------------------------------------------------
    prompt_type: str = Field(
        "",
        description="Prompt format when the model has no chat template (plain, chatml, llama2, "
        "mistral, zephyr, human_bot). Empty: the model's chat template.",
    )
    system_prompt: str = Field(
        "auto", description="System prompt. 'auto': the model's default; '' (empty): none."
    )

    # --- sampling defaults (a request may override each) --------------------------------
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

    # --- reward models for inference-time scaling -----------------------------------------
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

    # --- embeddings ------------------------------------------------------------------------
    hf_embedding_model: str = Field(
        "",
        description="Local sentence-transformers model folder for embeddings. Empty: the embedded "
        "all-MiniLM-L6-v2.",
    )

    # --- documents -------------------------------------------------------------------------
    langchain_mode: str = Field(
        "UserData",
        description="Default document collection: UserData (shared, filled from --user_path), MyData "
        "(per user), a collection you created, or LLM (no documents).",
    )
    user_path: str = Field(
        "", description="Folder ingested into the UserData collection at start (and by make_db)."
    )
    db_type: Literal["chroma", "faiss"] = Field("chroma", description="Vector store for collections.")
    chroma_url: str = Field(
        "", description="A Chroma server (http://host:8000) instead of the local persistent Chroma."
    )
    chunk_size: int = Field(512, ge=16, description="Chunk size in tokens when documents are split.")
    chunk_overlap: int = Field(64, ge=0, description="Tokens shared by neighbouring chunks.")
    top_k_docs: int = Field(10, ge=1, description="Chunks retrieved for a question.")
    cross_encoder_model: str = Field(
        "", description="Local cross-encoder folder to rerank retrieved chunks. Empty: no reranking."
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for converted models, saved chats and document collections.",
    )

    # --- faces ---------------------------------------------------------------------------
    cli: bool = Field(False, description="Chat in the terminal instead of the browser UI.")
    cli_loop: bool = Field(True, description="With --cli: keep chatting; False answers --prompt once.")
    prompt: str = Field(
        "", description="With --cli_loop=False: the question to answer (read from stdin when empty)."
    )
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
    max_batch_rows: int = Field(
        32, ge=1, description="Most sequences the local model decodes together when requests are merged."
    )
    verbose: bool = Field(False, description="Log debug details.")
