/* dm_malloc.c: let glibc keep freed array memory in the process.
 *
 * By default glibc serves a block larger than its mmap threshold (128 KiB at first, raised
 * up to 32 MiB as such blocks are freed) with a fresh mmap, and gives the top of the heap back
 * to the OS once more than the trim threshold is free there. A training step allocates and
 * frees the same few arrays of 0.1 to 10 MiB again and again, so the pages go back to the OS
 * at every step and are faulted in, zeroed, by the next one: measured on the GPT step of issue
 * 7 (2 cores), page faults and memory management took ~20 % of the attention op's time, and
 * the whole step ran 64-69 ms with glibc's defaults against 52-54 ms with these settings.
 * Memory freed is then kept for reuse instead (up to the trim threshold at the heap's top);
 * peak use does not grow, since what is kept is what the next step allocates again.
 * Other C libraries: nothing is changed (returns 0).
 */
#include <stdlib.h>

#include "deepmath_kernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int dm_malloc_keep(int mmap_threshold, int trim_threshold)
{
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 &&
           mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return 0;
#endif
}
