"""h2oGPT: private, offline LLM chat and document QA.

Importing the package keeps the process offline: hub downloads, telemetry and analytics
are switched off before any Hugging Face, Chroma or Gradio module reads its environment
(a variable the user set explicitly is left as it is). With a CUDA build of
llama-cpp-python it also loads that build's libraries before numpy is imported (see
``load_llama_cpp_cuda_first``).
"""

from __future__ import annotations

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


def load_llama_cpp_cuda_first() -> bool:
    """Load a CUDA build of llama-cpp-python's libraries now, before anything imports numpy.

    Seen on H100/H200 machines (Python 3.12, numpy 2.5.2, llama-cpp-python 0.3.36 built
    with CUDA): when numpy was imported before those libraries, loading any model crashed
    the process (SIGSEGV in libllama's std::regex, called while reading the vocabulary,
    landing in libggml-cuda); loaded first, the same model loads and runs. CPU builds never
    crashed and are left alone, so importing h2oGPT stays cheap there. True when loaded here.
    """
    if "llama_cpp" in sys.modules:
        return False
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return False
    libraries = Path(next(iter(spec.submodule_search_locations))) / "lib"
    if not any(libraries.glob("libggml-cuda*")):
        return False
    if "numpy" in sys.modules:
        logging.getLogger(__name__).warning(
            "numpy was imported before h2ogpt: with this CUDA build of llama-cpp-python, loading "
            "a model may crash the process; import h2ogpt (or llama_cpp) before numpy"
        )
        return False
    import llama_cpp.llama_cpp  # noqa: F401  (loads libllama, libggml and libggml-cuda)

    return True


enforce_offline()
load_llama_cpp_cuda_first()
__version__ = _version()

__all__ = ["OFFLINE_ENVIRONMENT", "__version__", "enforce_offline", "load_llama_cpp_cuda_first"]
