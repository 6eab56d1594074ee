/* dm_attention_tile.c: the tile loops of attention, written once for every (type, SIMD path).
 *
 * This file is #included by dm_attention.c with DM_ATT_TEMPLATE defined, once per
 * instantiation; compiled on its own (setup.py compiles every .c here) it is empty.
 * The includer defines:
 *   REAL        float or double
 *   NAME(x)     x with the instantiation's suffix appended (x##_f32_avx2 ...)
 *   TGT         __attribute__((target("avx2,fma"))) or nothing
 *   GEMM        C[M,N] (+)= op(A)[M,K]·B[K,N], row-major, k summed in ascending order
 *   GEMM_SCALED optional: GEMM_SCALED(M, N, K, A, lda, B, ldb, C, ldc, alpha) sets
 *               C = alpha·(A·B), each product sum rounded then multiplied (the same bits as
 *               GEMM then a multiply pass: the scores' scale without a pass over S)
 *   EXPROW      s[c] = exp(s[c] - sub) for c < n (n a multiple of 8), returns the sum
 *   ROWMAX      max of s[0..n) (n a multiple of 8, padding -inf)
 *   EXP1, LOG1  scalar exp and log
 *   TRANSPOSE8  optional: TRANSPOSE8(src, lds, dst, ldd) writes the transpose of an 8 × 8 block
 *               (the scalar loop otherwise)
 *
 * Why tiles of 64 × 64: a tile of scores (16 KiB in float32) plus the K and V tiles
 * (d × 64 each) stay in L2 while they are reused 64 times, and 64 is a multiple of the
 * micro-kernels' rows (4 for AVX2, 8 for AVX-512) and columns (16, 32). Measured (thread CPU
 * time, causal, d = 64, AVX2 path): 64 × 64 was as fast as or faster than 128 × 64,
 * 96 × 64, 64 × 128 and 32 × 64 (queries × keys). AVX-512 path on the Intel Xeon (AVX-512,
 * 2 cores), causal fwd + bwd, one thread: 32 × 64 as fast as 64 × 64 (within the ±3% noise);
 * 128 × 64, 64 × 128 and 128 × 128 2-15% slower at T = 256 and 1024.
 * The per-thread buffers are:
 *   Kt, Vt  (d × 64)  the key / value tile transposed, so that S = Q·Kᵀ is a plain GEMM
 *   S       (64 × 64) scores, then probabilities P
 *   dS      (64 × 64) dP = dO·Vᵀ, then dS = P ∘ (dP − D) · scale
 *   Oacc    (64 × d)  forward: the output rows being accumulated
 */
#ifdef DM_ATT_TEMPLATE

#define BR DM_ATT_TILE_Q
#define BC DM_ATT_TILE_K

typedef struct {
    int64_t BH, H, Tq, Tk, d;
    const REAL *q, *k, *v, *mask;
    int64_t ms[4];
    int causal;
    REAL scale;
    const REAL *out, *lse, *grad;
    REAL *o, *l;          /* forward outputs */
    REAL *dq, *dk, *dv;   /* backward outputs */
    REAL *D;              /* backward: rowsum(dO ∘ O), (B·H, Tq) */
} NAME(ctx);

/* Kt[x][c] = K[c][x] for c < nj, x < d: the transposed tile (row stride ldt), columns
 * nj..roundup8(nj) zero. Rows of K are read 8 at a time, so each pass writes 8 contiguous
 * floats of Kt. */
TGT static void NAME(transpose_tile)(const REAL *K, int64_t d, int64_t nj, REAL *Kt, int64_t ldt)
{
    int64_t c0 = 0;
    for (; c0 + 8 <= nj; c0 += 8) {
        const REAL *k0 = K + c0 * d;
        int64_t x = 0;
#ifdef TRANSPOSE8
        for (; x + 8 <= d; x += 8)
            TRANSPOSE8(k0 + x, d, Kt + x * ldt + c0, ldt);
#endif
        for (; x < d; x++) {
            REAL *t = Kt + x * ldt + c0;
            for (int u = 0; u < 8; u++)
                t[u] = k0[u * d + x];
        }
    }
    const int64_t np = (nj + 7) & ~(int64_t)7;
    for (int64_t x = 0; x < d && c0 < np; x++)
        for (int64_t c = c0; c < np; c++)
            Kt[x * ldt + c] = c < nj ? K[c * d + x] : 0;
}

/* Scores of the tile (rows i0.., keys j0..): S = scale·Q·Kᵀ + mask, -inf where causal masks
 * and in the padding columns nj..roundup8(nj). */
TGT static void NAME(scores)(const NAME(ctx) *c, int64_t bh, int64_t i0, int ni, int64_t j0,
                             int nj, const REAL *Kt, int64_t ldt, REAL *S)
{
    const int64_t d = c->d;
#ifdef GEMM_SCALED
    GEMM_SCALED(ni, nj, d, c->q + (bh * c->Tq + i0) * d, d, Kt, ldt, S, BC, c->scale);
#define SC(x) (x)
#else
    GEMM(0, ni, nj, d, c->q + (bh * c->Tq + i0) * d, d, Kt, ldt, S, BC, 0);
#define SC(x) ((x) * scale)
#endif
    const int np = (nj + 7) & ~7;
    const REAL *mrow0 = NULL;
    if (c->mask)
        mrow0 = c->mask + (bh / c->H) * c->ms[0] + (bh % c->H) * c->ms[1] + j0 * c->ms[3];
    for (int r = 0; r < ni; r++) {
        REAL *s = S + (int64_t)r * BC;
        const REAL scale = c->scale;
        (void)scale;
        if (mrow0) {
            const REAL *m = mrow0 + (i0 + r) * c->ms[2];
            const int64_t s3 = c->ms[3];
            for (int j = 0; j < nj; j++)
                s[j] = SC(s[j]) + m[j * s3];
        } else {
#ifndef GEMM_SCALED
            for (int j = 0; j < nj; j++)
                s[j] = s[j] * scale;
#endif
        }
        int lim = nj;
        if (c->causal) {  /* keys j0 + j > i0 + r are masked */
            int64_t allowed = i0 + r - j0 + 1;
            if (allowed < lim)
                lim = allowed < 0 ? 0 : (int)allowed;
        }
        for (int j = lim; j < np; j++)
            s[j] = -INFINITY;
    }
#undef SC
}

/* Forward of one (head, query tile): online softmax over the key tiles. */
TGT static void NAME(fwd_task)(const NAME(ctx) *c, int64_t bh, int64_t i0, REAL *ws,
                               const REAL *Kth)
{
    const int64_t d = c->d, Tq = c->Tq, Tk = c->Tk;
    const int ni = (int)(Tq - i0 < BR ? Tq - i0 : BR);
    REAL *Kt = ws, *S = Kt + d * BC, *Oacc = S + BR * BC, *m = Oacc + BR * d, *l = m + BR;
    for (int r = 0; r < ni; r++) {
        m[r] = -INFINITY;
        l[r] = 0;
    }
    memset(Oacc, 0, sizeof(REAL) * (size_t)(ni * d));
    int64_t jend = Tk;
    if (c->causal && i0 + ni < jend)  /* keys after the tile's last query are all masked */
        jend = i0 + ni;
    for (int64_t j0 = 0; j0 < jend; j0 += BC) {
        const int nj = (int)(jend - j0 < BC ? jend - j0 : BC);
        const int np = (nj + 7) & ~7;
        if (Kth) {  /* the head's K, transposed tile by tile: d × BC blocks */
            NAME(scores)(c, bh, i0, ni, j0, nj, Kth + (j0 / BC) * d * BC, BC, S);
        } else {
            NAME(transpose_tile)(c->k + (bh * Tk + j0) * d, d, nj, Kt, BC);
            NAME(scores)(c, bh, i0, ni, j0, nj, Kt, BC, S);
        }
        for (int r = 0; r < ni; r++) {
            REAL *s = S + (int64_t)r * BC;
            REAL mx = ROWMAX(s, np);
            if (m[r] > mx)
                mx = m[r];
            if (mx == -INFINITY) {  /* nothing visible yet in this row */
                for (int j = 0; j < np; j++)
                    s[j] = 0;
                continue;
            }
            if (mx != m[r]) {  /* rescale what was accumulated under the old max */
                REAL alpha = m[r] == -INFINITY ? 0 : EXP1(m[r] - mx);
                REAL *o = Oacc + r * d;
                for (int64_t x = 0; x < d; x++)
                    o[x] *= alpha;
                l[r] *= alpha;
                m[r] = mx;
            }
            l[r] += EXPROW(s, np, mx);
        }
        GEMM(0, ni, d, nj, S, BC, c->v + (bh * Tk + j0) * d, d, Oacc, d, 1);
    }
    REAL *o = c->o + (bh * Tq + i0) * d;
    REAL *lse = c->l + bh * Tq + i0;
    for (int r = 0; r < ni; r++) {
        if (l[r] != 0) {  /* > 0, or NaN from a NaN input: propagated */
            const REAL inv = 1 / l[r];
            for (int64_t x = 0; x < d; x++)
                o[r * d + x] = Oacc[r * d + x] * inv;
            lse[r] = m[r] + LOG1(l[r]);
        } else {  /* fully masked row */
            for (int64_t x = 0; x < d; x++)
                o[r * d + x] = 0;
            lse[r] = -INFINITY;
        }
    }
}

#define BWD_KV 1
#define BWD_Q 2

/* Backward of one (query tile, key tile) pair of one head. Kt, Vt: that key tile transposed.
 * flags: BWD_KV adds its part to dK and dV of the key tile, BWD_Q to dQ of the query tile. */
TGT static void NAME(bwd_pair)(const NAME(ctx) *c, int64_t bh, int64_t i0, int64_t j0,
                               const REAL *Kt, const REAL *Vt, REAL *S, REAL *dS, int flags)
{
    const int64_t d = c->d, Tq = c->Tq, Tk = c->Tk;
    const int ni = (int)(Tq - i0 < BR ? Tq - i0 : BR);
    const int nj = (int)(Tk - j0 < BC ? Tk - j0 : BC);
    const int np = (nj + 7) & ~7;
    const REAL *L = c->lse + bh * Tq + i0, *Drow = c->D + bh * Tq + i0;
    const REAL *dO = c->grad + (bh * Tq + i0) * d;
    NAME(scores)(c, bh, i0, ni, j0, nj, Kt, BC, S);
    for (int r = 0; r < ni; r++) {  /* P = exp(S - L) */
        REAL *s = S + (int64_t)r * BC;
        if (L[r] == -INFINITY) {
            for (int j = 0; j < np; j++)
                s[j] = 0;
        } else {
            EXPROW(s, np, L[r]);
        }
    }
    GEMM(0, ni, nj, d, dO, d, Vt, BC, dS, BC, 0);  /* dP = dO·Vᵀ */
    const REAL scale = c->scale;
    for (int r = 0; r < ni; r++) {  /* dS = P ∘ (dP − D) · scale */
        const REAL *p = S + (int64_t)r * BC;
        REAL *ds = dS + (int64_t)r * BC;
        const REAL Dr = Drow[r];
        for (int j = 0; j < nj; j++)
            ds[j] = p[j] * (ds[j] - Dr) * scale;
    }
    if (flags & BWD_KV) {
        GEMM(1, nj, d, ni, S, BC, dO, d, c->dv + (bh * Tk + j0) * d, d, 1);   /* dV += Pᵀ·dO */
        GEMM(1, nj, d, ni, dS, BC, c->q + (bh * Tq + i0) * d, d,
             c->dk + (bh * Tk + j0) * d, d, 1);                                /* dK += dSᵀ·Q */
    }
    if (flags & BWD_Q)
        GEMM(0, ni, d, nj, dS, BC, c->k + (bh * Tk + j0) * d, d,
             c->dq + (bh * Tq + i0) * d, d, 1);                                /* dQ += dS·K */
}

/* First query tile that sees key tile j0 under the causal mask (queries i >= j0). */
static int64_t NAME(first_qtile)(const NAME(ctx) *c, int64_t j0)
{
    return c->causal ? (j0 / BR) * BR : 0;
}

/* Last key (exclusive) seen by the query tile i0. */
static int64_t NAME(key_end)(const NAME(ctx) *c, int64_t i0)
{
    const int64_t ni = c->Tq - i0 < BR ? c->Tq - i0 : BR;
    return (c->causal && i0 + ni < c->Tk) ? i0 + ni : c->Tk;
}

/* dK, dV of key tile j0 (and dQ of every query tile when flags has BWD_Q: whole-head mode,
 * where the key tiles are visited in ascending order, the order bwd_q_task uses too). */
TGT static void NAME(bwd_kv_task)(const NAME(ctx) *c, int64_t bh, int64_t j0, REAL *ws,
                                  int flags)
{
    const int64_t d = c->d;
    const int nj = (int)(c->Tk - j0 < BC ? c->Tk - j0 : BC);
    REAL *Kt = ws, *Vt = Kt + d * BC, *S = Vt + d * BC, *dS = S + BR * BC;
    memset(c->dk + (bh * c->Tk + j0) * d, 0, sizeof(REAL) * (size_t)(nj * d));
    memset(c->dv + (bh * c->Tk + j0) * d, 0, sizeof(REAL) * (size_t)(nj * d));
    NAME(transpose_tile)(c->k + (bh * c->Tk + j0) * d, d, nj, Kt, BC);
    NAME(transpose_tile)(c->v + (bh * c->Tk + j0) * d, d, nj, Vt, BC);
    for (int64_t i0 = NAME(first_qtile)(c, j0); i0 < c->Tq; i0 += BR)
        NAME(bwd_pair)(c, bh, i0, j0, Kt, Vt, S, dS, flags);
}

/* dQ of query tile i0: its key tiles in ascending order. */
TGT static void NAME(bwd_q_task)(const NAME(ctx) *c, int64_t bh, int64_t i0, REAL *ws)
{
    const int64_t d = c->d;
    const int ni = (int)(c->Tq - i0 < BR ? c->Tq - i0 : BR);
    REAL *Kt = ws, *Vt = Kt + d * BC, *S = Vt + d * BC, *dS = S + BR * BC;
    memset(c->dq + (bh * c->Tq + i0) * d, 0, sizeof(REAL) * (size_t)(ni * d));
    const int64_t jend = NAME(key_end)(c, i0);
    for (int64_t j0 = 0; j0 < jend; j0 += BC) {
        const int nj = (int)(c->Tk - j0 < BC ? c->Tk - j0 : BC);
        NAME(transpose_tile)(c->k + (bh * c->Tk + j0) * d, d, nj, Kt, BC);
        NAME(transpose_tile)(c->v + (bh * c->Tk + j0) * d, d, nj, Vt, BC);
        NAME(bwd_pair)(c, bh, i0, j0, Kt, Vt, S, dS, BWD_Q);
    }
}

/* Whole head: key tiles outer (dK, dV), dQ accumulated over them in ascending order. */
TGT static void NAME(bwd_head_task)(const NAME(ctx) *c, int64_t bh, REAL *ws)
{
    memset(c->dq + bh * c->Tq * c->d, 0, sizeof(REAL) * (size_t)(c->Tq * c->d));
    for (int64_t j0 = 0; j0 < c->Tk; j0 += BC)
        NAME(bwd_kv_task)(c, bh, j0, ws, BWD_KV | BWD_Q);
}

/* Threads worth using for `flops` of work split in `tasks` pieces. */
static int NAME(threads_for)(double flops, int64_t tasks)
{
    int nt = dm_get_num_threads();
    if (flops < 2e5)
        nt = 1;
    if (tasks < nt)
        nt = (int)(tasks < 1 ? 1 : tasks);
    return nt;
}

static int NAME(forward)(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                         const REAL *q, const REAL *k, const REAL *v, const REAL *mask,
                         const int64_t *ms, int causal, REAL scale, REAL *out, REAL *lse)
{
    NAME(ctx) c = {0};
    c.BH = B * H; c.H = H; c.Tq = Tq; c.Tk = Tk; c.d = d;
    c.q = q; c.k = k; c.v = v; c.mask = mask;
    if (mask)
        for (int i = 0; i < 4; i++)
            c.ms[i] = ms[i];
    c.causal = causal; c.scale = scale; c.o = out; c.l = lse;
    const int64_t nqt = (Tq + BR - 1) / BR;
    const int64_t nkt = (Tk + BC - 1) / BC;
    int nt = NAME(threads_for)(4.0 * (double)c.BH * Tq * Tk * d, c.BH * nqt);
    /* Whole heads per task when there are enough of them: K is then transposed once per head
     * (into a d × Tk buffer, tile-major) rather than once per (query tile, key tile). Same arithmetic,
     * same bits, either way. */
    const int per_head = (c.BH >= 2 * nt || nt == 1) && nqt > 1;
    const int64_t ntasks = per_head ? c.BH : c.BH * nqt;
    const size_t wsize = sizeof(REAL) * (size_t)(d * BC + BR * BC + BR * d + 2 * BR +
                                                 (per_head ? nkt * d * BC : 0));
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        REAL *ws = (REAL *)malloc(wsize);
        if (!ws) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t t = 0; t < ntasks; t++) {
            if (!ws)
                continue;
            if (per_head) {
                REAL *Kth = ws + d * BC + BR * BC + BR * d + 2 * BR;
                /* tile-major (d × BC blocks), not d × Tk: a tile's rows then share a few
                 * pages and cache sets instead of one each */
                for (int64_t j0 = 0; j0 < Tk; j0 += BC)
                    NAME(transpose_tile)(c.k + (t * Tk + j0) * d, d, Tk - j0 < BC ? Tk - j0 : BC,
                                         Kth + (j0 / BC) * d * BC, BC);
                for (int64_t it = 0; it < nqt; it++)
                    NAME(fwd_task)(&c, t, it * BR, ws, Kth);
            } else {
                /* causal: the last query tiles cost the most, hand them out first */
                const int64_t bh = t % c.BH, it = causal ? nqt - 1 - t / c.BH : t / c.BH;
                NAME(fwd_task)(&c, bh, it * BR, ws, NULL);
            }
        }
        free(ws);
    }
    (void)nt;
    return failed ? -1 : 0;
}

static int NAME(backward)(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                          const REAL *q, const REAL *k, const REAL *v, const REAL *mask,
                          const int64_t *ms, int causal, REAL scale, const REAL *out,
                          const REAL *lse, const REAL *grad, REAL *dq, REAL *dk, REAL *dv)
{
    NAME(ctx) c = {0};
    c.BH = B * H; c.H = H; c.Tq = Tq; c.Tk = Tk; c.d = d;
    c.q = q; c.k = k; c.v = v; c.mask = mask;
    if (mask)
        for (int i = 0; i < 4; i++)
            c.ms[i] = ms[i];
    c.causal = causal; c.scale = scale;
    c.out = out; c.lse = lse; c.grad = grad; c.dq = dq; c.dk = dk; c.dv = dv;
    const int64_t rows = c.BH * Tq;
    REAL *D = (REAL *)malloc(sizeof(REAL) * (size_t)rows);
    if (!D)
        return -1;
    c.D = D;
    const int64_t nqt = (Tq + BR - 1) / BR, nkt = (Tk + BC - 1) / BC;
    const size_t wsize = sizeof(REAL) * (size_t)(2 * d * BC + 2 * BR * BC);
    const double flops = 10.0 * (double)c.BH * Tq * Tk * d;
    int nt = NAME(threads_for)(flops, c.BH * (nqt > nkt ? nqt : nkt));
    /* Whole heads per thread when there are enough heads; else dK/dV by key tile, then dQ by
     * query tile (recomputing the scores once more). Both visit the tile pairs of every
     * output in the same order: the results are the same bits. */
    const int per_head = c.BH >= 2 * nt || nt == 1;
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t r = 0; r < rows; r++) {  /* D = rowsum(dO ∘ O) */
            const REAL *g = grad + r * d, *o = out + r * d;
            REAL s = 0;
            for (int64_t x = 0; x < d; x++)
                s += g[x] * o[x];
            D[r] = s;
        }
        REAL *ws = (REAL *)malloc(wsize);
        if (!ws) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
        if (per_head) {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int64_t bh = 0; bh < c.BH; bh++)
                if (ws)
                    NAME(bwd_head_task)(&c, bh, ws);
        } else {
            const int64_t nkv = c.BH * nkt, nq = c.BH * nqt;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int64_t t = 0; t < nkv; t++)  /* causal: first key tiles cost the most */
                if (ws)
                    NAME(bwd_kv_task)(&c, t % c.BH, (t / c.BH) * BC, ws, BWD_KV);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int64_t t = 0; t < nq; t++)
                if (ws)
                    NAME(bwd_q_task)(&c, t % c.BH, (causal ? nqt - 1 - t / c.BH : t / c.BH) * BR,
                                     ws);
        }
        free(ws);
    }
    free(D);
    return failed ? -1 : 0;
}

#undef BR
#undef BC
#undef BWD_KV
#undef BWD_Q

#else
typedef int dm_attention_tile_empty; /* an ISO C translation unit may not be empty */
#endif /* DM_ATT_TEMPLATE */
