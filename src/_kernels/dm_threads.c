/* dm_threads.c: how many threads the kernels use.
 *
 * The count lives in one global read by each parallel loop's num_threads() clause, rather
 * than in omp_set_num_threads(): that call only sets the calling thread's ICV, so a count set
 * from Python's main thread would be ignored by kernels run from another Python thread.
 * Every function compiles without OpenMP, where the kernels simply run serially.
 */
#include "deepmath_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int dm_threads = 0;  /* 0: not set, use OpenMP's default */

int dm_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

long dm_openmp_macro(void)
{
#ifdef _OPENMP
    return (long)_OPENMP;
#else
    return 0;
#endif
}

int dm_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void dm_set_num_threads(int n)
{
    dm_threads = n;
}

/* Without OpenMP the stored count is still returned (so set/get round-trip), but the
 * kernels ignore it: dm_openmp_enabled() tells which case holds. */
int dm_get_num_threads(void)
{
    if (dm_threads > 0) return dm_threads;
    return dm_max_threads();
}
