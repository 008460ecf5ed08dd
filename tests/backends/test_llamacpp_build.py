"""How the llama.cpp engine copes with its native build: the AMX tile-configuration fix that
`make install` compiles in, and loading a CUDA build's libraries before numpy."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from h2ogpt.backends.llamacpp import native
from h2ogpt.backends.model_source import embedded_gguf_path

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "ci" / "llama_cpp" / "amx_tileconfig.h"
SRC = str(ROOT / "src")

# ggml's tile configuration (amx/mmq.cpp): palette 1, two 8x64 B tiles, two 16x32 A tiles and
# four 16x64 C tiles, set field by field after zero-initialising the struct, then loaded.
TILE_CONFIG_PROGRAM = r"""
#include <immintrin.h>
#include <cstdint>
#include <cstdio>
#include <unistd.h>
#include <sys/syscall.h>
struct tile_config_t {
    uint8_t palette_id = 0; uint8_t start_row = 0; uint8_t reserved_0[14] = {0};
    uint16_t colsb[16] = {0}; uint8_t rows[16] = {0};
};
__attribute__((noinline)) void configure() {
    alignas(64) tile_config_t tc = {};
    tc.palette_id = 1;
    tc.rows[0] = 8;  tc.colsb[0] = 64; tc.rows[1] = 8;  tc.colsb[1] = 64;
    tc.rows[2] = 16; tc.colsb[2] = 32; tc.rows[3] = 16; tc.colsb[3] = 32;
    for (int i = 4; i < 8; ++i) { tc.rows[i] = 16; tc.colsb[i] = 64; }
    _tile_loadconfig(&tc);
}
int main() {
    if (syscall(SYS_arch_prctl, 0x1023, 18)) { std::puts("no AMX permission"); return 3; }
    configure();
    alignas(64) tile_config_t loaded = {};
    _tile_storeconfig(&loaded);
    for (int i = 0; i < 8; ++i) std::printf("%d:%d ", loaded.rows[i], loaded.colsb[i]);
    alignas(64) int8_t a[16 * 32], b[8 * 64];
    alignas(64) int32_t c[16 * 16];
    for (auto & v : a) v = 1;
    for (auto & v : b) v = 2;
    _tile_zero(4); _tile_loadd(2, a, 32); _tile_loadd(0, b, 64);
    _tile_dpbssd(4, 2, 0); _tile_stored(4, c, 64); _tile_release();
    std::printf("%d\n", c[0]);
    return c[0] == 64 ? 0 : 4;
}
"""


def _cpu_has_amx() -> bool:
    try:
        return " amx_int8" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++, which builds llama-cpp-python")
def test_the_forced_header_keeps_the_whole_tile_configuration(tmp_path):
    """With the header, GCC keeps every store of the 64-byte configuration that `ldtilecfg`
    reads (GCC < 14 alone keeps only the first 8 bytes); on an AMX CPU the tiles then work."""
    source = tmp_path / "tiles.cpp"
    source.write_text(TILE_CONFIG_PROGRAM)
    flags = ["-O3", "-mamx-tile", "-mamx-int8", "-mavx512f", "-include", str(HEADER)]
    assembly = subprocess.run(
        ["g++", *flags, "-S", "-o", "-", str(source)], capture_output=True, text=True, check=True
    ).stdout
    configure = assembly.split("_Z9configurev:", 1)[1].split("ldtilecfg", 1)[0]
    stores = [line for line in configure.splitlines() if "(%rsp)" in line and "mov" in line.split()[0]]
    assert len(stores) > 2, "only the zeroing and the palette byte are stored before ldtilecfg"
    binary = tmp_path / "tiles"
    subprocess.run(["g++", *flags, "-o", str(binary), str(source)], check=True)
    if not _cpu_has_amx():
        return  # compiled and checked; nothing to run it on
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split() == ["8:64", "8:64", "16:32", "16:32", "16:64", "16:64", "16:64", "16:64", "64"]


def test_amx_kernels_follow_the_build_and_the_setting():
    if "AMX_INT8 = 1" not in native.system_info():
        for choice in ("auto", "on", "off"):
            assert native.amx_kernels_allowed(choice)  # no AMX kernels in this build: nothing to avoid
        return
    assert not native.amx_kernels_allowed("off")
    assert native.amx_kernels_allowed("on")
    assert native.amx_kernels_allowed("auto") == hasattr(native.C._lib, "h2ogpt_amx_tileconfig_fix")


def test_our_patch_functions_are_looked_up_in_the_cpu_backend_this_process_runs():
    """``libggml-cpu.so``, or in a portable build (GGML_BACKEND_DL) the module loaded for this
    CPU: either way the library exports the CPU backend's own entry point."""
    library = native.cpu_backend_library()
    assert library.parent == native.library_dir().resolve()
    assert library.name.startswith("libggml-cpu") and library.exists()
    assert hasattr(ctypes.CDLL(str(library)), "ggml_backend_cpu_reg")


def test_make_install_builds_llama_cpp_with_our_patches():
    """`make install` compiles llama-cpp-python with ci/llama_cpp/*.patch; the patched CPU
    backend names its patches (a build made elsewhere names none, and is only slower)."""
    declared = set()
    for patch in sorted((ROOT / "ci" / "llama_cpp").glob("*.patch")):
        found = re.search(r'h2ogpt_ggml_cpu_patches\(void\) \{\n\+\s*return "([^"]*)"', patch.read_text())
        if found:
            declared |= set(found.group(1).split(","))
    assert declared, "no patch declares its names"
    assert native.build_patches() == declared


FLASH_ATTENTION = """
import json, sys
from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.llamacpp import native
from h2ogpt.backends.llamacpp.engine import LlamaCppEngine
from h2ogpt.backends.llamacpp.model import LlamaModel
flash = {"default": None, "on": True, "off": False}[sys.argv[2]]
model = LlamaModel(sys.argv[1], max_rows=4, kv_cells=2048, flash_attention=flash)
engine = LlamaCppEngine(model, name="m")
story = " ".join(f"Day {day}: the keeper lit the lamp at {day % 12 + 1} o'clock." for day in range(1, 40))
prompts = [engine.apply_chat_template([{"role": "user", "content": text}])
           for text in ("What is the capital of France?", story + " When did he light it on day 7?")]
scores = [engine.score_continuations(p, [" The capital is Paris.", " At 8 o'clock."]) for p in prompts]
answers = engine.sample(prompts[1], SamplingParams(max_new_tokens=6, temperature=0.7, seed=3), n=4)
print(json.dumps({"flash": model.flash_attention, "fast": native.fast_cpu_flash_attention(),
                  "logprobs": [list(s.logprobs) for per_prompt in scores for s in per_prompt],
                  "answers": [a.text for a in answers]}))
"""


def _on_the_embedded_model(script: str, *args: str, **env: str) -> str:
    """Run a script on the embedded model in a child process (a crash fails the test, not the
    run); its standard output."""
    run = subprocess.run(
        [sys.executable, "-c", script, str(embedded_gguf_path()), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": SRC, **env},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _flash_attention_run(choice: str, **env: str) -> dict:
    return json.loads(_on_the_embedded_model(FLASH_ATTENTION, choice, **env).strip().splitlines()[-1])


def test_flash_attention_is_on_for_the_cpu_where_our_kernel_is_built():
    """Our patch's few-row flash-attention kernel needs AVX-512; where the build has it, the
    CPU runs with flash attention (faster, and each row reads as alone); H2OGPT_FA_FEW_ROWS=0
    takes the kernel out, and with it the default."""
    built = "AVX512 = 1" in native.system_info() and "flash-attn-few-rows" in native.build_patches()
    assert native.fast_cpu_flash_attention() == built
    assert _flash_attention_run("default")["flash"] == built
    without = _flash_attention_run("default", H2OGPT_FA_FEW_ROWS="0")
    assert without["fast"] is False
    assert without["flash"] is False


def test_our_flash_attention_kernel_reads_as_llama_cpps_own():
    """Scores after a short and a ~500-token prompt, and seeded samples of 4 rows: our kernel
    against llama.cpp's own flash attention (H2OGPT_FA_FEW_ROWS=0) and attention without it.
    They round differently (F32 against F16 accumulation, a vector exp), and llama.cpp's 8-bit
    activations amplify that, so ours must be as close to llama.cpp's kernel as llama.cpp's
    two attention paths are to each other."""
    if not native.fast_cpu_flash_attention():
        pytest.skip("this build has no few-row flash-attention kernel (it needs AVX-512)")
    ours = _flash_attention_run("on")
    theirs = _flash_attention_run("on", H2OGPT_FA_FEW_ROWS="0")
    plain = _flash_attention_run("off")
    assert theirs["fast"] is False

    def gap(a: dict, b: dict) -> float:
        return max(
            abs(x - y)
            for la, lb in zip(a["logprobs"], b["logprobs"], strict=True)
            for x, y in zip(la, lb, strict=True)
        )

    assert gap(ours, theirs) <= max(0.05, 1.5 * gap(theirs, plain)), (gap(ours, theirs), gap(theirs, plain))
    assert sum(a == b for a, b in zip(ours["answers"], theirs["answers"], strict=True)) >= 2


BATCHES = """
import logging, sys
from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.llamacpp.engine import LlamaCppEngine
lines = []
handler = logging.Handler(); handler.emit = lambda record: lines.append(record.getMessage())
logger = logging.getLogger("h2ogpt.backends.llamacpp"); logger.addHandler(handler); logger.setLevel(logging.DEBUG)
engine = LlamaCppEngine.load(sys.argv[1], name="m", max_rows=4)
prompt = engine.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}])
answers = engine.sample(prompt, SamplingParams(max_new_tokens=12, temperature=0.7, seed=1), n=4)
scores = engine.score_continuations(prompt, [" Paris.", " Rome."])
print("AMX" if any("AMX model buffer" in line for line in lines) else "no AMX")
print(len(answers), all(0 < a.completion_tokens <= 12 for a in answers), scores[0].total > scores[1].total)
"""


def test_multi_token_batches_run_on_the_kernels_this_build_allows():
    """Prompts, n samples and scoring are batches of many tokens: on an AMX Xeon with the fixed
    build they run on llama.cpp's AMX kernels (they crashed without the fix), elsewhere on the
    usual ones. In a child process, so that a crash fails this test rather than the run."""
    kernels, result = _on_the_embedded_model(BATCHES).split("\n")[:2]
    assert result == "4 True True"  # and garbage kernels would not prefer " Paris."
    expect_amx = "AMX_INT8 = 1" in native.system_info() and native.amx_kernels_allowed()
    assert kernels == ("AMX" if expect_amx else "no AMX")


# --- a CUDA build gets a global C++ runtime before its libraries load ---------------------
GLOBAL_CXX_RUNTIME = "import ctypes; print(hasattr(ctypes.CDLL(None), '_ZSt9terminatev'))"


def _fake_llama_cpp(root: Path, *, cuda: bool) -> None:
    """A stand-in llama_cpp package whose lib folder says which build it is."""
    package = root / "llama_cpp"
    (package / "lib").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "llama_cpp.py").write_text("")
    (package / "lib" / ("libggml-cuda.so" if cuda else "libggml-cpu.so")).write_bytes(b"")


def _import(code: str, path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), SRC])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_a_cuda_build_gets_a_global_cxx_runtime_whatever_came_first(tmp_path):
    _fake_llama_cpp(tmp_path, cuda=True)
    run = _import(
        f"import numpy, h2ogpt, sys; assert 'llama_cpp' not in sys.modules; {GLOBAL_CXX_RUNTIME}", tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"
    assert "imported before" not in run.stderr


def test_a_cpu_build_is_left_alone(tmp_path):
    _fake_llama_cpp(tmp_path, cuda=False)
    run = _import(
        f"import h2ogpt, sys; assert 'llama_cpp' not in sys.modules; {GLOBAL_CXX_RUNTIME}", tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_a_cuda_build_loaded_before_h2ogpt_is_warned_about(tmp_path):
    _fake_llama_cpp(tmp_path, cuda=True)
    run = _import(f"import llama_cpp.llama_cpp, h2ogpt; {GLOBAL_CXX_RUNTIME}", tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
    assert "llama_cpp was imported before h2ogpt" in run.stderr
    assert "import h2ogpt before llama_cpp" in run.stderr
