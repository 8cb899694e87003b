#include "CMPIShim.h"

#include <limits.h>
#include <string.h>

#include <mpi.h>

/// The most elements one MPI call takes (MPI counts are `int`); a multiple of 16 so pieces
/// stay 64-byte aligned.
static const size_t piece_limit = (size_t)1 << 30;

int ilql_mpi_initialize(int *rank, int *size) {
    int provided = 0;
    int code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) return code;
    code = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (code != MPI_SUCCESS) return code;
    code = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (code != MPI_SUCCESS) return code;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int ilql_mpi_is_active(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

int ilql_mpi_finalize(void) { return MPI_Finalize(); }

void ilql_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static int allreduce_sum(void *values, size_t count, size_t element_size, MPI_Datatype type) {
    char *bytes = values;
    while (count > 0) {
        size_t piece = count < piece_limit ? count : piece_limit;
        int code = MPI_Allreduce(MPI_IN_PLACE, bytes, (int)piece, type, MPI_SUM, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return code;
        bytes += piece * element_size;
        count -= piece;
    }
    return MPI_SUCCESS;
}

int ilql_mpi_allreduce_sum_float(float *values, size_t count) {
    return allreduce_sum(values, count, sizeof(float), MPI_FLOAT);
}

int ilql_mpi_allreduce_sum_double(double *values, size_t count) {
    return allreduce_sum(values, count, sizeof(double), MPI_DOUBLE);
}

int ilql_mpi_broadcast_bytes(void *bytes, size_t count, int root) {
    char *cursor = bytes;
    while (count > 0) {
        size_t piece = count < piece_limit ? count : piece_limit;
        int code = MPI_Bcast(cursor, (int)piece, MPI_BYTE, root, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return code;
        cursor += piece;
        count -= piece;
    }
    return MPI_SUCCESS;
}

int ilql_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

void ilql_mpi_error_string(int code, char *buffer, size_t capacity) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (capacity == 0) return;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
    text[length < MPI_MAX_ERROR_STRING ? length : MPI_MAX_ERROR_STRING - 1] = '\0';
    strncpy(buffer, text, capacity - 1);
    buffer[capacity - 1] = '\0';
}

void ilql_mpi_library_version(char *buffer, size_t capacity) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    if (capacity == 0) return;
    if (MPI_Get_library_version(text, &length) != MPI_SUCCESS) length = 0;
    text[length < MPI_MAX_LIBRARY_VERSION_STRING ? length : MPI_MAX_LIBRARY_VERSION_STRING - 1] = '\0';
    strncpy(buffer, text, capacity - 1);
    buffer[capacity - 1] = '\0';
}
