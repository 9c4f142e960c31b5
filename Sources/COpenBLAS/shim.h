// OpenBLAS's CBLAS interface, for the matrix products (Debian: libopenblas-dev).
#include <cblas.h>
