// Open MPI's C API, found through pkg-config (`ompi-c`). Swift code uses it only through
// CMPIShim: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and MPI_IN_PLACE are macros over casts and
// addresses of globals, which do not import into Swift.
#include <mpi.h>
