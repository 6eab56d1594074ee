"""CPU emulator of the slice of `cupy.RawModule` that deepmath's CUDA launchers use.

`RawModule(code=...)` compiles the CUDA source with g++ and a shim header (`__global__`,
`__device__`, a `dim3` whose threadIdx/blockIdx are 0 and blockDim/gridDim 1, the few CUDA
intrinsics the kernels use), caches the shared library per source hash and loads it with ctypes.
`get_function(name)(grid, block, args)` calls the kernel ONCE: every kernel is a grid-stride
loop, so one emulated thread does all the work. `RawModule(..., threads=(blocks, block_dim))`
instead runs blocks * block_dim emulated threads one after the other, in a shuffled order,
whatever the launch asked for: the grid-stride loops must then still cover every item.

The arguments are checked against the kernel's C signature (read from the preprocessed source),
strictly, as the GPU would need: a `float *` takes a float32 array, `long long` a numpy.int64,
and so on; anything else is a TypeError, never a silent conversion.
"""
import ctypes
import functools
import hashlib
import os
import re
import subprocess
import tempfile
import types

import numpy as np

SHIM = r"""
#include <math.h>
#include <string.h>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
struct dim3 { unsigned int x, y, z; };
static dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
extern "C" void dm_emulator_thread(unsigned int t, unsigned int b, unsigned int bd, unsigned int gd)
{
    threadIdx.x = t; blockIdx.x = b; blockDim.x = bd; gridDim.x = gd;
}
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double f; memcpy(&f, &i, 8); return f; }
"""

CXXFLAGS = ("-O1", "-std=c++14", "-shared", "-fPIC", "-Wall", "-Werror")
_CACHE = os.path.join(tempfile.gettempdir(), f"deepmath-cuda-emulator-{os.getuid()}")
_POINTERS = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64}
_SCALARS = {"float": (np.float32, ctypes.c_float), "double": (np.float64, ctypes.c_double),
            "int": (np.int32, ctypes.c_int32), "long long": (np.int64, ctypes.c_longlong)}
_KERNEL = re.compile(r'extern\s+"C"\s+DM_EMULATED_GLOBAL\s+void\s+(\w+)\s*\(([^)]*)\)')


def _param(text):
    """('ptr' | 'scalar', C base type) of one parameter declaration."""
    words = text.replace("*", " * ").split()
    words = [w for w in words[:-1] if w not in ("const", "__restrict__")]
    pointer = "*" in words
    base = " ".join(w for w in words if w != "*")
    if base not in _SCALARS:
        raise TypeError(f"cuda_emulator: unsupported kernel parameter {text.strip()!r}")
    return ("ptr" if pointer else "scalar"), base


class _Function:
    def __init__(self, name, cfunc, params, module):
        self.name, self._cfunc, self._params, self._module = name, cfunc, params, module
        self.calls = 0

    def __call__(self, grid, block, args, shared_mem=0):
        args = tuple(args)
        if len(args) != len(self._params):
            raise TypeError(f"{self.name}: kernel takes {len(self._params)} arguments, "
                            f"got {len(args)}")
        if shared_mem:
            raise ValueError(f"{self.name}: the kernels use no shared memory")
        for dims in (grid, block):
            if not (isinstance(dims, tuple) and 1 <= len(dims) <= 3
                    and all(isinstance(v, (int, np.integer)) and 1 <= v < 2**31 for v in dims)):
                raise ValueError(f"{self.name}: bad grid/block {dims!r}")
        c_args = []
        for i, (a, (kind, base)) in enumerate(zip(args, self._params)):
            if kind == "ptr":
                if not isinstance(a, np.ndarray) or a.dtype != _POINTERS[base] \
                        or not a.flags.c_contiguous:
                    raise TypeError(f"{self.name}: argument {i} must be a C-contiguous "
                                    f"{np.dtype(_POINTERS[base])} array ({base} *), got "
                                    f"{type(a).__name__} {getattr(a, 'dtype', '')}")
                c_args.append(ctypes.c_void_p(a.ctypes.data))
            else:
                np_type, c_type = _SCALARS[base]
                if type(a) is not np_type:
                    raise TypeError(f"{self.name}: argument {i} must be numpy.{np_type.__name__}"
                                    f" ({base}), got {type(a).__name__}")
                c_args.append(c_type(a))
        self.calls += 1
        threads = self._module.threads
        if threads is None:
            self._cfunc(*c_args)
            return
        blocks, block_dim = threads
        order = [(b, t) for b in range(blocks) for t in range(block_dim)]
        np.random.default_rng(self.calls).shuffle(order)
        set_thread = self._module._lib.dm_emulator_thread
        try:
            for b, t in order:
                set_thread(t, b, block_dim, blocks)
                self._cfunc(*c_args)
        finally:
            set_thread(0, 0, 1, 1)


class RawModule:
    """`cupy.RawModule(code=..., options=...)`, compiled for the CPU (options are ignored)."""

    def __init__(self, code=None, options=(), threads=None, **kwargs):
        if not isinstance(code, str):
            raise TypeError("cuda_emulator.RawModule: code must be the CUDA source text")
        self.code, self.options, self.threads = code, tuple(options), threads
        key = hashlib.sha256("\0".join((SHIM, *CXXFLAGS, code)).encode()).hexdigest()[:24]
        os.makedirs(_CACHE, exist_ok=True)
        lib, src = os.path.join(_CACHE, key + ".so"), os.path.join(_CACHE, key + ".cu.cpp")
        for path, text in ((os.path.join(_CACHE, key + ".shim.h"), SHIM), (src, code)):
            if not os.path.exists(path):       # written once, atomically (parallel runs)
                with open(f"{path}.{os.getpid()}.tmp", "w") as f:
                    f.write(text)
                os.replace(f"{path}.{os.getpid()}.tmp", path)
        if not os.path.exists(lib):
            tmp = f"{lib}.{os.getpid()}.tmp"
            subprocess.run(["g++", *CXXFLAGS, "-include", key + ".shim.h", "-o", tmp, src],
                           cwd=_CACHE, check=True, capture_output=True, text=True)
            os.replace(tmp, lib)
        pre = subprocess.run(["g++", "-E", "-P", "-x", "c++", "-std=c++14",
                              "-D__global__=DM_EMULATED_GLOBAL", src],
                             check=True, capture_output=True, text=True).stdout
        self.signatures = {m.group(1): [_param(p) for p in m.group(2).split(",") if p.strip()]
                           for m in _KERNEL.finditer(pre)}
        self._lib = ctypes.CDLL(lib)
        self._lib.dm_emulator_thread.argtypes = [ctypes.c_uint] * 4
        self._lib.dm_emulator_thread.restype = None
        self._functions = {}

    def get_function(self, name):
        if name not in self.signatures:
            raise AttributeError(f"cuda_emulator: no extern \"C\" __global__ kernel {name!r}")
        if name not in self._functions:
            cfunc = getattr(self._lib, name)
            cfunc.restype = None
            self._functions[name] = _Function(name, cfunc, self.signatures[name], self)
        return self._functions[name]


def emulated_xp(threads=None):
    """A stand-in array module: numpy's namespace plus the emulated RawModule (`threads`: see
    RawModule)."""
    xp = types.ModuleType("emulated_cupy")
    xp.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})
    xp.RawModule = functools.partial(RawModule, threads=threads) if threads else RawModule
    return xp
