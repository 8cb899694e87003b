// Functions over MPI_COMM_WORLD for Swift. Every function returns MPI's error code (MPI_SUCCESS,
// 0, on success); the communicator's error handler is MPI_ERRORS_RETURN, so a failed call
// returns here instead of aborting the process, and the caller can say what went wrong.
#ifndef ILQL_CMPISHIM_H
#define ILQL_CMPISHIM_H

#include <stddef.h>

/// Initialises MPI (with MPI_THREAD_FUNNELED: only the thread that called this makes MPI calls)
/// and sets MPI_ERRORS_RETURN on MPI_COMM_WORLD. Writes the rank and size.
int ilql_mpi_initialize(int *rank, int *size);

/// Whether MPI is initialised and not yet finalised.
int ilql_mpi_is_active(void);

/// MPI_Finalize.
int ilql_mpi_finalize(void);

/// Ends every process of MPI_COMM_WORLD with `code` (MPI_Abort).
void ilql_mpi_abort(int code);

/// In-place sum over every rank of `count` floats (`count` may exceed INT_MAX: the buffer is
/// reduced in pieces).
int ilql_mpi_allreduce_sum_float(float *values, size_t count);

/// In-place sum over every rank of `count` doubles.
int ilql_mpi_allreduce_sum_double(double *values, size_t count);

/// Copies `count` bytes from `root` to every rank.
int ilql_mpi_broadcast_bytes(void *bytes, size_t count, int root);

/// Waits for every rank.
int ilql_mpi_barrier(void);

/// MPI's text for an error code, written into `buffer` (at most `capacity` bytes with the NUL).
void ilql_mpi_error_string(int code, char *buffer, size_t capacity);

/// The library's version text (MPI_Get_library_version), written into `buffer`.
void ilql_mpi_library_version(char *buffer, size_t capacity);

#endif
