// hwloc's topology and binding API, found through pkg-config.
#include <hwloc.h>
