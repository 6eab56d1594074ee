/* dm_cpu.c: what this CPU can run, and which compiler built us.
 *
 * Wheels are built for a baseline ISA (x86-64 or armv8-a, never -march=native), so faster
 * paths must be chosen at run time: dm_cpu_features() asks the CPU, dm_simd_paths() lists the
 * kernel paths both compiled in and runnable here.
 */
#include "deepmath_kernels.h"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#define DM_X86_MSVC 1
#include <intrin.h>
#include <immintrin.h>
#elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define DM_X86_GNU 1
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define DM_ARM64 1
#endif

#ifdef DM_X86_MSVC
/* cpuid leaves 1 and 7 say what the CPU implements; xgetbv says whether the OS saves the
 * wider registers (XMM|YMM for AVX, plus opmask|ZMM for AVX-512) on context switches. */
static unsigned dm_cpu_features_msvc(void)
{
    int r[4];
    unsigned f = 0, ecx, edx, ebx;
    unsigned long long xcr0 = 0;
    int max_leaf, ymm_ok, zmm_ok;

    __cpuid(r, 0);
    max_leaf = r[0];
    __cpuid(r, 1);
    ecx = (unsigned)r[2];
    edx = (unsigned)r[3];
    if (ecx & (1u << 27)) xcr0 = _xgetbv(0);  /* OSXSAVE */
    ymm_ok = (xcr0 & 0x06) == 0x06;
    zmm_ok = (xcr0 & 0xE6) == 0xE6;
    if (edx & (1u << 26)) f |= DM_CPU_SSE2;
    if (ymm_ok && (ecx & (1u << 28))) f |= DM_CPU_AVX;
    if (ymm_ok && (ecx & (1u << 12))) f |= DM_CPU_FMA;
    if (max_leaf >= 7) {
        __cpuidex(r, 7, 0);
        ebx = (unsigned)r[1];
        if (ymm_ok && (ebx & (1u << 5))) f |= DM_CPU_AVX2;
        if (zmm_ok && (ebx & (1u << 16))) f |= DM_CPU_AVX512F;
    }
    return f;
}
#endif

unsigned dm_cpu_features(void)
{
    unsigned f = 0;
#if defined(DM_X86_MSVC)
    f = dm_cpu_features_msvc();
#elif defined(DM_X86_GNU)
    /* libgcc / compiler-rt check the OS's register support (xgetbv) too. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse2")) f |= DM_CPU_SSE2;
    if (__builtin_cpu_supports("avx")) f |= DM_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) f |= DM_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= DM_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= DM_CPU_AVX512F;
#elif defined(DM_ARM64)
    f |= DM_CPU_NEON;  /* Advanced SIMD is mandatory in armv8-a */
#endif
    return f;
}

/* Kernel paths, from the most portable to the fastest. A path is listed by dm_simd_paths()
 * when the CPU has every feature in `needs`: portable C (auto-vectorised for the baseline ISA,
 * SSE2 on x86-64, NEON on arm64) everywhere; AVX2+FMA functions (GEMM micro-kernels, pooling,
 * attention and fused elementwise loops) where the CPU has them, chosen at run time; AVX-512F
 * float32 GEMM micro-kernel and attention tiles where the CPU and OS (zmm state) allow it. */
typedef struct {
    const char *name;
    unsigned needs;
} dm_path;

static const dm_path dm_paths[] = {
    {"portable", 0u},
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    {"avx2+fma", DM_CPU_AVX2 | DM_CPU_FMA},
    {"avx512f (gemm, attention, gelu)", DM_CPU_AVX512F | DM_CPU_AVX2 | DM_CPU_FMA},
#endif
};

int dm_simd_paths(const char **names, int max)
{
    unsigned have = dm_cpu_features();
    int i, k = 0, n = (int)(sizeof dm_paths / sizeof dm_paths[0]);
    for (i = 0; i < n && k < max; i++)
        if ((dm_paths[i].needs & have) == dm_paths[i].needs) names[k++] = dm_paths[i].name;
    return k;
}

#define DM_STR2(x) #x
#define DM_STR(x) DM_STR2(x)

const char *dm_compiler_id(void)
{
#if defined(__clang__) && defined(__apple_build_version__)
    return "Apple clang " __clang_version__;
#elif defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
    return "MSVC " DM_STR(_MSC_FULL_VER);
#else
    return "unknown C compiler";
#endif
}
