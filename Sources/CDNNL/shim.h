#include <oneapi/dnnl/dnnl.h>
// oneDNN (Debian's build) threads through OpenMP; TuneLab calls it with one thread per worker
// of its own pool, set per calling thread (libgomp keeps this ICV per thread).
void omp_set_num_threads(int n);
