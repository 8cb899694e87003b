// OpenBLAS's CBLAS interface plus its threading and core-name extensions
// (openblas_set_num_threads, openblas_get_corename), found through pkg-config.
#include <cblas.h>
