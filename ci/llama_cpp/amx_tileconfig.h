/* Force-included (-include) into llama.cpp's C++ sources when `make install` builds
 * llama-cpp-python (see the Makefile's LLAMA_CMAKE_ARGS).
 *
 * GCC before 14 declares `_tile_loadconfig(p)` as inline asm whose memory operand is only
 * `*(const void **)p`: the compiler believes `ldtilecfg` reads 8 bytes and drops the stores
 * that fill the rest of the 64-byte tile configuration. ggml's AMX matrix kernels then load a
 * configuration with no rows or columns, and `ldtilecfg` faults: SIGSEGV in
 * ggml_backend_amx_mul_mat on the first batch of more than one token, on every AMX Xeon.
 * Redefining the macro with an operand that covers all 64 bytes keeps those stores.
 *
 * The exported marker tells h2oGPT at run time that this build has the fix, so it may use
 * llama.cpp's AMX kernels (src/h2ogpt/backends/llamacpp/native.py, amx_kernels_allowed).
 */
#if defined(__cplusplus) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
extern "C" __attribute__((weak, visibility("default"), used)) const int h2ogpt_amx_tileconfig_fix = 1;
#if defined(__AMX_TILE__)
#include <immintrin.h>
#undef _tile_loadconfig
#define _tile_loadconfig(config) \
    __asm__ volatile("ldtilecfg\t%X0" ::"m"(*(const char(*)[64])(config)))
#endif
#endif
