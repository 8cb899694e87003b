// libFuzzer's entry point for programs that keep their own main (libFuzzer >= 11). Declared here
// so Swift calls it with the C calling convention; it is only referenced when building with
// -DFUZZING -sanitize=fuzzer, which links libFuzzer.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
