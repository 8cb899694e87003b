// OpenBLAS's CBLAS interface plus its threading and core-name extensions
// (openblas_set_num_threads, openblas_get_corename), found through pkg-config.
#include <cblas.h>

// A cache prefetch hint, which Swift cannot express (see ILQLKernels' Prefetch).
static inline void ilql_prefetch(const void *address) { __builtin_prefetch(address, 1, 3); }
