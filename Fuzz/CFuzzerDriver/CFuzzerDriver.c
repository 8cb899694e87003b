// Header-only shim: see include/CFuzzerDriver.h.
#include "CFuzzerDriver.h"
