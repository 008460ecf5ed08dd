"""The llama.cpp C library: its logging routed to Python, a reusable batch, fast calls.

Importing this module replaces llama-cpp-python's log callback (which prints to stderr)
with one that hands every line to the ``h2ogpt.backends.llamacpp`` logger at DEBUG, and
keeps the last error lines so that a failed load can say why.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any

import llama_cpp.llama_cpp as C
import numpy as np

from h2ogpt.errors import ConfigError

log = logging.getLogger("h2ogpt.backends.llamacpp")

# ggml's current levels (llama_cpp/_logger.py still documents an older numbering)
_LEVEL_ERROR = 4
_LEVEL_CONT = 5

_partial: list[str] = []
_partial_level = [0]
recent_errors: deque[str] = deque(maxlen=8)


@C.llama_log_callback
def _on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    """One piece of a llama.cpp log line; whole lines go to the Python logger at DEBUG."""
    try:
        piece = text.decode("utf-8", "replace") if text else ""
        if level != _LEVEL_CONT:
            _partial_level[0] = level
        _partial.append(piece)
        if not piece.endswith("\n"):
            return
        line = "".join(_partial).rstrip()
        _partial.clear()
        if _partial_level[0] == _LEVEL_ERROR:
            recent_errors.append(line)
        if line and log.isEnabledFor(logging.DEBUG):
            log.debug("llama.cpp: %s", line)
    except Exception:  # a callback from C must never raise
        pass


_init_lock = threading.Lock()
_initialized = [False]


def init() -> None:
    """Route llama.cpp's logging to Python, initialize its backend and load its backend
    modules where the build has them (once per process)."""
    with _init_lock:
        if _initialized[0]:
            return
        C.llama_log_set(_on_log, None)
        C.llama_backend_init()
        _load_backend_modules()
        _initialized[0] = True


def library_dir() -> Path:
    """The folder of llama-cpp-python's C libraries (``LLAMA_CPP_LIB_PATH`` or its own)."""
    return Path(C._lib._name).parent


def _load_backend_modules() -> None:
    """A portable build (``GGML_BACKEND_DL``, usually with ``GGML_CPU_ALL_VARIANTS``: one CPU
    backend module per instruction-set level) registers no backend by itself, and the binding
    does not load them. Load the best module of each kind from its library folder, as
    llama.cpp's own programs do; a build that registers its backends is left as it is."""
    ggml = ctypes.CDLL(str(library_dir() / "libggml.so"))  # the copy libllama already loaded
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    if ggml.ggml_backend_reg_count():
        return
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(str(library_dir()).encode())
    if not ggml.ggml_backend_reg_count():
        raise ConfigError(
            f"this llama-cpp-python build loads its backends from modules, and {library_dir()} has "
            "none this CPU can run (libggml-cpu*.so); reinstall llama-cpp-python (make install)"
        )


def last_error(default: str) -> str:
    """The most telling error llama.cpp logged lately (the first of the latest burst)."""
    lines = [line.split(": ", 1)[-1] if ": " in line else line for line in recent_errors]
    lines = [line for line in lines if line and "failed to load model" not in line]
    return lines[0] if lines else default


def gpu_offload_supported() -> bool:
    """Whether this build can offload layers to a GPU it sees (a CUDA build with a device)."""
    init()
    return bool(C.llama_supports_gpu_offload())


def system_info() -> str:
    """llama.cpp's build and CPU features line (``AVX512 = 1 | AMX_INT8 = 1 | ...``)."""
    init()  # a portable build names the features of the CPU module it loaded
    return C.llama_print_system_info().decode("utf-8", "replace")


_AMX_FIX_MARKER = "h2ogpt_amx_tileconfig_fix"


def amx_kernels_allowed(choice: str = "auto") -> bool:
    """Whether llama.cpp may repack weights for its AMX kernels (extra buffer types).

    Builds with GCC before 14 miscompile the AMX tile configuration, and every batch of more
    than one token then crashes (SIGSEGV). ``make install`` builds llama-cpp-python with
    ``ci/llama_cpp/amx_tileconfig.h``, which fixes that and exports a marker: ``auto`` uses
    AMX only with the marker; ``on`` (a build known good: GCC 14, clang) and ``off`` override
    (``--llama_amx``). Builds without AMX kernels are unaffected: always allowed.
    """
    if "AMX_INT8 = 1" not in system_info():
        return True
    if choice != "auto":
        return choice == "on"
    return hasattr(C._lib, _AMX_FIX_MARKER)


@functools.cache
def build_patches() -> frozenset[str]:
    """h2oGPT's patches compiled into llama.cpp's CPU backend (``ci/llama_cpp/*.patch``, which
    ``make install`` applies; ``H2OGPT_AMX_FEW_ROWS`` tunes one). Empty for a build made
    elsewhere: everything works, batches of a few rows are slower."""
    names = _cpu_backend_function("h2ogpt_ggml_cpu_patches", ctypes.c_char_p)
    if names is None:
        return frozenset()
    return frozenset(filter(None, names().decode().split(",")))


@functools.cache
def fast_cpu_flash_attention() -> bool:
    """Whether llama.cpp's CPU backend has our few-row flash-attention kernel (the patch's
    AVX-512 part; ``H2OGPT_FA_FEW_ROWS=0`` turns it off). With it, flash attention is faster
    on the CPU than without for every workload measured, and each row's logits are those it
    gets alone; with llama.cpp's own kernel it is slower for several rows and long contexts."""
    present = _cpu_backend_function("h2ogpt_ggml_cpu_fast_flash_attention", ctypes.c_int)
    return present is not None and present() == 1


def cpu_backend_library() -> Path:
    """The file of llama.cpp's CPU backend in this process: ``libggml-cpu.so``, or in a portable
    build the module chosen for this CPU (``libggml-cpu-sapphirerapids.so``, ...)."""
    init()
    folder = library_dir().resolve()  # /proc/self/maps names files by their real paths
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                mapped = Path(line.split()[-1])
                if mapped.parent == folder and mapped.name.startswith("libggml-cpu"):
                    return mapped
    except OSError:  # not Linux
        pass
    return folder / "libggml-cpu.so"


def _cpu_backend_function(name: str, restype: type) -> Any:
    """A function our patches export from llama.cpp's CPU backend; None in other builds."""
    try:
        function = getattr(ctypes.CDLL(str(cpu_backend_library())), name)
    except (OSError, AttributeError):
        return None
    function.restype = restype
    return function


# --- fast entry points -----------------------------------------------------------------
# The binding's llama_get_logits returns a ctypes pointer object; these return plain
# addresses, which is all a numpy view needs (no ctypes objects per decoding step).
_get_logits_address = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(("llama_get_logits", C._lib))
_get_logits_ith_address = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)(
    ("llama_get_logits_ith", C._lib)
)


def logits_address(ctx: int) -> int:
    return _get_logits_address(ctx) or 0


def logits_ith_address(ctx: int, i: int) -> int:
    return _get_logits_ith_address(ctx, i) or 0


def float_view(address: int, rows: int, cols: int) -> np.ndarray:
    """A read-only numpy view of ``rows x cols`` float32 at ``address`` (no copy)."""
    buffer = (ctypes.c_float * (rows * cols)).from_address(address)
    view = np.frombuffer(buffer, dtype=np.float32).reshape(rows, cols)
    view.flags.writeable = False
    return view


class NativeBatch:
    """One ``llama_batch`` reused for every decode, its arrays owned by numpy.

    Each token belongs to exactly one sequence: ``seq_id[i]`` points at ``seq[i]``. Filling
    it is a few vectorized numpy assignments, whatever the number of tokens.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.token = np.zeros(capacity, dtype=np.int32)
        self.pos = np.zeros(capacity, dtype=np.int32)
        self.n_seq_id = np.ones(capacity, dtype=np.int32)
        self.seq = np.zeros(capacity, dtype=np.int32)
        self.logits = np.zeros(capacity, dtype=np.int8)
        base = self.seq.ctypes.data
        self._seq_ptrs = (ctypes.c_void_p * capacity)(*(base + 4 * i for i in range(capacity)))
        self.struct = C.llama_batch(
            n_tokens=0,
            token=self.token.ctypes.data_as(ctypes.POINTER(C.llama_token)),
            embd=None,
            pos=self.pos.ctypes.data_as(ctypes.POINTER(C.llama_pos)),
            n_seq_id=self.n_seq_id.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            seq_id=ctypes.cast(self._seq_ptrs, ctypes.POINTER(ctypes.POINTER(C.llama_seq_id))),
            logits=self.logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
        )
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def add(self, tokens, start_pos: int, seq: int, output_last: bool) -> int:
        """Append ``tokens`` of sequence ``seq`` from position ``start_pos``; the logits of
        the last one are output when asked. Returns the batch index of the last token."""
        count = len(tokens)
        begin, end = self.size, self.size + count
        if end > self.capacity:
            raise ValueError(f"batch overflow: {end} > {self.capacity}")
        self.token[begin:end] = tokens
        self.pos[begin:end] = np.arange(start_pos, start_pos + count, dtype=np.int32)
        self.seq[begin:end] = seq
        self.logits[begin:end] = 0
        if output_last and count:
            self.logits[end - 1] = 1
        self.size = end
        return end - 1

    def add_outputs(self, tokens, positions, seqs) -> None:
        """Append one token per sequence, each with its logits output (a decoding step)."""
        count = len(tokens)
        begin, end = self.size, self.size + count
        if end > self.capacity:
            raise ValueError(f"batch overflow: {end} > {self.capacity}")
        self.token[begin:end] = tokens
        self.pos[begin:end] = positions
        self.seq[begin:end] = seqs
        self.logits[begin:end] = 1
        self.size = end

    def finish(self) -> C.llama_batch:
        self.struct.n_tokens = self.size
        return self.struct
