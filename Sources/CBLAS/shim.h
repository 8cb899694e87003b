// OpenBLAS's CBLAS interface plus its threading and core-name extensions
// (openblas_set_num_threads, openblas_get_corename), found through pkg-config.
#include <cblas.h>

// A cache prefetch hint, which Swift cannot express (see ILQLKernels' Prefetch).
static inline void ilql_prefetch(const void *address) { __builtin_prefetch(address, 1, 3); }

// What the CPU can run, to tell when OpenBLAS fell back to a kernel far slower than the CPU allows
// (see BLAS.slowKernelWarning): 2 for AVX-512F, 1 for AVX2 with FMA, 0 otherwise or off x86-64.
static inline int ilql_cpu_vector_level(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}
