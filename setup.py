"""Build deepmath's C extension, deepmath._kernels, from src/_kernels/.

Metadata lives in pyproject.toml; this file only compiles the kernels. OpenMP is used when the
compiler can build and link a small OpenMP program; otherwise the kernels are built serial and
a loud warning is printed.

Environment variables:
  DEEPMATH_FAIL_NO_OPENMP=1  stop with an error instead of building without OpenMP (CI, wheels)
  DEEPMATH_NATIVE=1          add -march=native: faster here, but runs only on CPUs like this one
  DEEPMATH_DEBUG=1           -O0 -g instead of -O3
  LIBOMP_PREFIX              macOS: where libomp is installed (default: `brew --prefix libomp`)
"""
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
KERNELS = os.path.join("src", "_kernels")

OPENMP_TEST = r"""
#include <omp.h>
#ifndef _OPENMP
#error "_OPENMP not defined"
#endif
int main(void)
{
    int n = 0;
#pragma omp parallel reduction(+ : n)
    n += 1;
    return n >= 1 && omp_get_max_threads() >= 1 ? 0 : 1;
}
"""


def env_flag(name):
    """True when the environment variable is set to something other than '' or '0'."""
    return os.environ.get(name, "") not in ("", "0")


def kernel_sources():
    """The .pyx binding first, then the hand-written C files (never Cython's _kernels.c)."""
    c_files = sorted(f for f in os.listdir(os.path.join(HERE, KERNELS))
                     if f.endswith(".c") and f != "_kernels.c")
    return [os.path.join(KERNELS, "_kernels.pyx")] + [os.path.join(KERNELS, f) for f in c_files]


def libomp_prefixes():
    """Candidate libomp install prefixes on macOS, most specific first."""
    found = [os.environ.get("LIBOMP_PREFIX", "")]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found.append(subprocess.run(["brew", "--prefix", "libomp"], capture_output=True,
                                    text=True, timeout=60).stdout.strip())
    found += ["/opt/homebrew/opt/libomp", "/usr/local/opt/libomp"]
    return [p for i, p in enumerate(found) if p and os.path.isdir(p) and p not in found[:i]]


def openmp_candidates(compiler_type):
    """(compile flags, link flags) pairs to try, in order, for this kind of compiler."""
    if compiler_type == "msvc":
        return [(["/openmp"], [])]
    candidates = [(["-fopenmp"], ["-fopenmp"])]  # gcc, LLVM clang
    if sys.platform == "darwin":  # Apple clang: the preprocessor flag plus Homebrew's libomp
        candidates += [(["-Xpreprocessor", "-fopenmp", f"-I{p}/include"], [f"-L{p}/lib", "-lomp"])
                       for p in libomp_prefixes()]
    return candidates


@contextlib.contextmanager
def quiet_fds():
    """Silence stdout/stderr at the file-descriptor level (the compiler's own messages)."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def compiles_with_openmp(compiler, cflags, ldflags):
    """True if `compiler` compiles and links OPENMP_TEST with these flags."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            with open("omp_test.c", "w") as f:
                f.write(OPENMP_TEST)
            with quiet_fds():
                objects = compiler.compile(["omp_test.c"], extra_postargs=cflags)
                compiler.link_executable(objects, "omp_test", extra_postargs=ldflags)
            return True
        except Exception:  # CompileError, LinkError: this flag set does not work
            return False
        finally:
            os.chdir(cwd)


def warn_no_openmp(compiler_name, tried):
    """Print a warning nobody can miss, or fail if DEEPMATH_FAIL_NO_OPENMP=1."""
    flags = "; ".join(f"{' '.join(c)} (link: {' '.join(l) or 'no flag'})" for c, l in tried)
    reason = [f"The compiler ({compiler_name}) could not build an OpenMP program with: {flags}.",
              "Install OpenMP support and rebuild: gcc has libgomp; clang needs libomp",
              "(Debian/Ubuntu: apt install libomp-dev; macOS: brew install libomp); MSVC has /openmp."]
    if env_flag("DEEPMATH_FAIL_NO_OPENMP"):
        raise RuntimeError(" ".join(["deepmath: OpenMP is required (DEEPMATH_FAIL_NO_OPENMP=1)."]
                                    + reason + ["Unset DEEPMATH_FAIL_NO_OPENMP to build "
                                                "single-threaded kernels instead."]))
    lines = ["deepmath: OpenMP NOT AVAILABLE -- the C kernels will run on ONE thread."] + reason + [
        "Set DEEPMATH_FAIL_NO_OPENMP=1 to make this an error."]
    bar = "*" * 78
    print("\n".join([bar, bar] + ["* " + s for s in lines] + [bar, bar]), file=sys.stderr)


def c_string(s):
    """`s` as a C string literal."""
    return '"' + s.encode("ascii", "replace").decode().replace("\\", "\\\\").replace('"', '\\"') + '"'


class BuildExt(build_ext):
    """build_ext that cythonizes, picks optimisation and OpenMP flags, and records them."""

    def build_extensions(self):
        import numpy
        from Cython.Build import cythonize

        msvc = self.compiler.compiler_type == "msvc"
        cflags, ldflags, macros = self.base_flags(msvc), [], [("NPY_NO_DEPRECATED_API",
                                                                 "NPY_1_7_API_VERSION")]
        tried = openmp_candidates(self.compiler.compiler_type)
        openmp = next(((c, l) for c, l in tried if compiles_with_openmp(self.compiler, c, l)), None)
        command = self.compiler_command(msvc)
        if openmp:
            cflags, ldflags = cflags + openmp[0], ldflags + openmp[1]
            macros.append(("DEEPMATH_OPENMP", "1"))
            print(f"deepmath: building the C kernels with OpenMP ({' '.join(openmp[0])})")
        else:
            warn_no_openmp("MSVC" if msvc else self.compiler.compiler_so[0], tried)

        info_dir = os.path.join(self.build_temp, "dm_build_info")
        header, changed = self.write_build_info(info_dir, command, cflags, ldflags)
        for ext in self.extensions:
            ext.include_dirs += [info_dir, numpy.get_include()]
            ext.extra_compile_args += cflags
            ext.extra_link_args += ldflags
            ext.define_macros += macros
            ext.depends.append(header)
        generated = cythonize(self.extensions, force=self.force or changed, quiet=True,
                              build_dir=os.path.join(self.build_temp, "cython"))
        for ext, cy in zip(self.extensions, generated):  # keep setuptools' Extension objects
            ext.sources = cy.sources
        super().build_extensions()

    @staticmethod
    def base_flags(msvc):
        """Optimisation flags: -O3 -std=c99 (MSVC /O2); never -ffast-math."""
        if msvc:
            return ["/Od", "/Zi"] if env_flag("DEEPMATH_DEBUG") else ["/O2"]
        flags = ["-O0", "-g"] if env_flag("DEEPMATH_DEBUG") else ["-O3"]
        flags.append("-std=c99")
        if env_flag("DEEPMATH_NATIVE"):
            flags.append("-march=native")
        return flags

    def compiler_command(self, msvc):
        """The compiler's command line as distutils runs it, for build_info()."""
        if msvc:
            return getattr(self.compiler, "cc", "cl.exe")
        return shlex.join(self.compiler.compiler_so)

    @staticmethod
    def write_build_info(directory, command, cflags, ldflags):
        """Write dm_build_info.h; return its path and whether its text changed.

        It is rewritten only when it changed (flags, numpy or Cython version), and everything
        is rebuilt when it did: a stale module built against another numpy is never reused.
        """
        import Cython
        import numpy

        text = "\n".join([
            "/* Generated by setup.py at build time: how deepmath._kernels was compiled. */",
            f"#define DM_BUILD_COMMAND {c_string(command)}",
            f"#define DM_BUILD_CFLAGS {c_string(' '.join(cflags))}",
            f"#define DM_BUILD_LDFLAGS {c_string(' '.join(ldflags))}",
            f"#define DM_BUILD_NATIVE {int(env_flag('DEEPMATH_NATIVE'))}",
            f"#define DM_BUILD_DEBUG {int(env_flag('DEEPMATH_DEBUG'))}",
            f"#define DM_BUILD_NUMPY {c_string(numpy.__version__)}",
            f"#define DM_BUILD_CYTHON {c_string(Cython.__version__)}",
            "",
        ])
        path = os.path.join(directory, "dm_build_info.h")
        os.makedirs(directory, exist_ok=True)
        old = None
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
        if old != text:
            with open(path, "w") as f:
                f.write(text)
        return path, old != text


kernels = Extension(
    "deepmath._kernels",
    sources=kernel_sources(),
    include_dirs=[KERNELS],
    depends=sorted(os.path.join(KERNELS, f) for f in os.listdir(os.path.join(HERE, KERNELS))
                   if f.endswith((".h", ".pxi"))),
)

setup(ext_modules=[kernels], cmdclass={"build_ext": BuildExt})
