# cython: language_level=3, embedsignature=True
"""deepmath's C kernels (src/_kernels/*.c), bound to Python.

Each function checks its arguments in Python terms first (type, dtype, shape, contiguity),
raising TypeError or ValueError that name what was wrong, then calls plain C with the GIL
released. Arrays are reached through their data pointers, never indexed here, so there are no
bounds checks to switch off.
"""
import operator

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int64_t

cnp.import_array()


cdef extern from "deepmath_kernels.h" nogil:
    int DM_THREADS_LIMIT
    int64_t DM_PARALLEL_MIN
    unsigned DM_CPU_SSE2, DM_CPU_AVX, DM_CPU_AVX2, DM_CPU_FMA, DM_CPU_AVX512F, DM_CPU_NEON

    int dm_openmp_enabled()
    long dm_openmp_macro()
    int dm_max_threads()
    void dm_set_num_threads(int n)
    int dm_get_num_threads()

    int dm_malloc_keep(int mmap_threshold, int trim_threshold)

    unsigned dm_cpu_features()
    const char *dm_compiler_id()
    int dm_simd_paths(const char **names, int max)

    void dm_relu_forward_f32(const float *x, float *y, int64_t n)
    void dm_relu_forward_f64(const double *x, double *y, int64_t n)
    void dm_relu_backward_f32(const float *x, const float *dy, float *dx, int64_t n)
    void dm_relu_backward_f64(const double *x, const double *dy, double *dx, int64_t n)


# Written by setup.py into the build directory: how this module was compiled.
cdef extern from "dm_build_info.h":
    const char *DM_BUILD_COMMAND
    const char *DM_BUILD_CFLAGS
    const char *DM_BUILD_LDFLAGS
    int DM_BUILD_NATIVE
    int DM_BUILD_DEBUG
    const char *DM_BUILD_NUMPY
    const char *DM_BUILD_CYTHON


#: Arrays with at least this many elements are processed by several threads.
PARALLEL_MIN = DM_PARALLEL_MIN

# _OPENMP (yyyymm of the specification) -> version.
_OPENMP_VERSIONS = {200203: "2.0", 200505: "2.5", 200805: "3.0", 201107: "3.1",
                    201307: "4.0", 201511: "4.5", 201811: "5.0", 202011: "5.1",
                    202111: "5.2", 202411: "6.0"}


# ---- threads and build --------------------------------------------------------------------

def openmp_enabled():
    """True if the kernels were compiled with OpenMP (multi-threaded)."""
    return bool(dm_openmp_enabled())


def malloc_keep(int mmap_threshold, int trim_threshold):
    """glibc only: serve blocks below mmap_threshold bytes from the heap and keep up to
    trim_threshold bytes of freed memory at its top (src/_kernels/dm_malloc.c). True if
    applied (False with another C library)."""
    if mmap_threshold < 0 or trim_threshold < 0:
        raise ValueError("malloc_keep: thresholds must be >= 0")
    return bool(dm_malloc_keep(mmap_threshold, trim_threshold))


def max_threads():
    """OpenMP's default thread count (OMP_NUM_THREADS, else the cores available); 1 without OpenMP."""
    return dm_max_threads()


def get_num_threads():
    """Number of threads the kernels' parallel loops use."""
    return dm_get_num_threads()


def set_num_threads(n):
    """Make the kernels' parallel loops use `n` threads (1 <= n <= 1024).

    Without OpenMP the value is remembered (get_num_threads returns it) but kernels run serially.
    """
    k = operator.index(n)
    if k < 1:
        raise ValueError(f"number of threads must be >= 1, got {n!r}")
    if k > DM_THREADS_LIMIT:
        raise ValueError(f"number of threads must be <= {DM_THREADS_LIMIT}, got {n!r}")
    dm_set_num_threads(<int>k)


def cpu_features():
    """Instruction sets this CPU and OS support, detected at run time: {'avx2': True, ...}."""
    cdef unsigned f = dm_cpu_features()
    return {"sse2": bool(f & DM_CPU_SSE2), "avx": bool(f & DM_CPU_AVX),
            "avx2": bool(f & DM_CPU_AVX2), "fma": bool(f & DM_CPU_FMA),
            "avx512f": bool(f & DM_CPU_AVX512F), "neon": bool(f & DM_CPU_NEON)}


def simd_paths():
    """Kernel code paths compiled in and runnable on this CPU, e.g. ['portable']."""
    cdef const char *names[16]
    cdef int i, k = dm_simd_paths(names, 16)
    return [names[i].decode() for i in range(k)]


def build_info():
    """How this module was built: compiler, flags, OpenMP."""
    macro = dm_openmp_macro()
    return {
        "compiler": dm_compiler_id().decode(),
        "command": DM_BUILD_COMMAND.decode(),
        "flags": DM_BUILD_CFLAGS.decode(),
        "link_flags": DM_BUILD_LDFLAGS.decode(),
        "openmp": bool(dm_openmp_enabled()),
        "openmp_macro": macro or None,
        "openmp_version": _OPENMP_VERSIONS.get(macro, str(macro)) if macro else None,
        "native_arch": bool(DM_BUILD_NATIVE),
        "debug": bool(DM_BUILD_DEBUG),
        "numpy_build": DM_BUILD_NUMPY.decode(),
        "cython": DM_BUILD_CYTHON.decode(),
        "parallel_min": DM_PARALLEL_MIN,
    }


# ---- argument checks ------------------------------------------------------------------------

cdef cnp.ndarray _float_array(object a, str fn, str name):
    """`a` as an aligned, native byte order, C-contiguous float32/float64 ndarray.

    Non-contiguous, unaligned or byte-swapped arrays are copied and numpy scalars (what numpy
    returns for 0-d results) become 0-d arrays; anything else raises TypeError.
    """
    if isinstance(a, np.generic):
        a = np.asarray(a)
    elif not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, not {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{fn}: {name} has dtype {arr.dtype}; expected float32 or float64")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISBEHAVED_RO(arr)):
        arr = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C")
    return arr


cdef inline cnp.ndarray _empty_like(cnp.ndarray a):
    """A new C-ordered array with the shape and dtype of `a`."""
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a), cnp.PyArray_DIMS(a), cnp.PyArray_TYPE(a), 0)


# ---- kernels ---------------------------------------------------------------------------------

def relu_forward(x):
    """max(x, 0) elementwise, as np.maximum(x, 0) (NaN propagates), in a new array.

    x: float32 or float64 ndarray of any shape (or numpy scalar).
    """
    cdef cnp.ndarray a = _float_array(x, "relu_forward", "x")
    cdef cnp.ndarray y = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef void *px = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    if n == 0:
        return y
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        with nogil:
            dm_relu_forward_f32(<const float *>px, <float *>py, n)
    else:
        with nogil:
            dm_relu_forward_f64(<const double *>px, <double *>py, n)
    return y


def relu_backward(x, grad):
    """grad * (x > 0): the gradient of ReLU at x times the upstream gradient, in a new array.

    x, grad: float32 or float64 ndarrays (or numpy scalars) of the same shape and dtype.
    """
    cdef cnp.ndarray a = _float_array(x, "relu_backward", "x")
    cdef cnp.ndarray g = _float_array(grad, "relu_backward", "grad")
    if x.shape != grad.shape or cnp.PyArray_TYPE(a) != cnp.PyArray_TYPE(g):
        raise ValueError(f"relu_backward: x has shape {x.shape} and dtype {x.dtype} but grad has "
                         f"shape {grad.shape} and dtype {grad.dtype}; they must be the same")
    cdef cnp.ndarray dx = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef void *px = cnp.PyArray_DATA(a)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pdx = cnp.PyArray_DATA(dx)
    if n == 0:
        return dx
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        with nogil:
            dm_relu_backward_f32(<const float *>px, <const float *>pg, <float *>pdx, n)
    else:
        with nogil:
            dm_relu_backward_f64(<const double *>px, <const double *>pg, <double *>pdx, n)
    return dx


# ---- kernel families, one binding file each (they use _float_array and _empty_like above) ---
include "gemm.pxi"
include "conv.pxi"
include "pool.pxi"
include "attention.pxi"
include "fused.pxi"
include "norm.pxi"
include "chain.pxi"
