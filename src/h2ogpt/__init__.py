"""h2oGPT: private, offline LLM chat and document QA.

Importing the package keeps the process offline: hub downloads, telemetry and analytics
are switched off before any Hugging Face, Chroma or Gradio module reads its environment
(a variable the user set explicitly is left as it is). With a CUDA build of
llama-cpp-python it also makes the C++ runtime global before that build's libraries load
(see ``share_cxx_runtime_with_llama_cpp_cuda``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
from importlib import metadata
from pathlib import Path

OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
}


def enforce_offline() -> None:
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def _version() -> str:
    """version.txt when running from a checkout, else the installed distribution's."""
    checkout_file = Path(__file__).resolve().parents[2] / "version.txt"
    if checkout_file.is_file():
        return checkout_file.read_text().strip()
    try:
        return metadata.version("h2ogpt")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def share_cxx_runtime_with_llama_cpp_cuda() -> bool:
    """Load the C++ runtime into the process's global scope before a CUDA build of
    llama-cpp-python loads its libraries.

    Seen on an H200 machine (Python 3.12, llama-cpp-python 0.3.36 built with CUDA 13, numpy
    2.5.2, torch 2.11+cu130), with llama.cpp's libraries loaded as the binding loads them
    (ctypes, local scope): loading a model crashed when numpy had been imported before them
    (SIGSEGV in libllama's std::regex, reading the vocabulary), and importing torch after them
    aborted the process ("free(): invalid pointer"), so a GPU llama.cpp model could not share a
    process with the embedder or the transformers engine. With ``libstdc++.so.6`` loaded
    globally first, numpy, torch and sentence-transformers load before or after llama.cpp and a
    model loads and runs on the GPU. CPU builds never crashed and are left alone, so importing
    h2oGPT stays cheap there. True when done here.
    """
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return False
    libraries = Path(next(iter(spec.submodule_search_locations))) / "lib"
    if not any(libraries.glob("libggml-cuda*")):
        return False
    if "llama_cpp.llama_cpp" in sys.modules:
        logging.getLogger(__name__).warning(
            "llama_cpp was imported before h2ogpt: with this CUDA build of llama-cpp-python, "
            "numpy or torch may crash the process; import h2ogpt before llama_cpp"
        )
        return False
    try:
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    except OSError as error:  # no GNU C++ runtime by that name: nothing to share
        logging.getLogger(__name__).warning("could not load libstdc++.so.6 globally: %s", error)
        return False
    return True


enforce_offline()
share_cxx_runtime_with_llama_cpp_cuda()
__version__ = _version()

__all__ = ["OFFLINE_ENVIRONMENT", "__version__", "enforce_offline", "share_cxx_runtime_with_llama_cpp_cuda"]
