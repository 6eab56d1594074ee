/* dm_attention.h: scaled dot-product attention, forward and backward, flash-attention style.
 *
 *   S = scale · Q·Kᵀ + mask        (B, H, Tq, Tk), never stored whole
 *   P = softmax(S) along the keys
 *   O = P·V                        (B, H, Tq, d)
 *   L = logsumexp(S) along the keys (B, H, Tq): the only thing kept for the backward pass
 *
 * Shapes, all C-contiguous: q (B, H, Tq, d), k and v (B, H, Tk, d), out (B, H, Tq, d),
 * lse (B, H, Tq), grad/dq like q, dk/dv like k.
 * mask: NULL, or an additive float mask read as mask[b*ms[0] + h*ms[1] + i*ms[2] + j*ms[3]]
 *   (strides in elements; 0 for a broadcast dimension).
 * causal != 0: query i attends the keys j <= i only (PyTorch's is_causal: top-left aligned,
 *   also when Tq != Tk), on top of the mask.
 * A row whose every score is -inf (fully masked) gets output 0 and lse = -inf, and its
 *   gradients are 0 (PyTorch returns NaN there; flash-attention returns 0 as we do).
 *
 * Work is split in tiles of DM_ATT_TILE_Q queries × DM_ATT_TILE_K keys; the forward pass keeps a
 * running max and sum per query row (online softmax), the backward pass recomputes
 * P = exp(S − L) tile by tile (FlashAttention-2). Extra memory: O(B·H·Tq) plus a few
 * tile-sized buffers per thread. Every output element is computed by one thread in a fixed
 * order, whatever the thread count: results are bitwise identical for any number of threads.
 * Return 0, or -1 when a workspace could not be allocated.
 */
#ifndef DM_ATTENTION_H
#define DM_ATTENTION_H

#include <stdint.h>

/* Tile sizes: queries × keys (multiples of 8; see dm_attention_tile.c for the choice). */
#ifndef DM_ATT_TILE_Q
#define DM_ATT_TILE_Q 64
#endif
#ifndef DM_ATT_TILE_K
#define DM_ATT_TILE_K 64
#endif

int dm_attention_forward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                             const float *q, const float *k, const float *v,
                             const float *mask, const int64_t *mask_strides, int causal,
                             float scale, float *out, float *lse);
int dm_attention_forward_f64(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                             const double *q, const double *k, const double *v,
                             const double *mask, const int64_t *mask_strides, int causal,
                             double scale, double *out, double *lse);

int dm_attention_backward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                              const float *q, const float *k, const float *v,
                              const float *mask, const int64_t *mask_strides, int causal,
                              float scale, const float *out, const float *lse,
                              const float *grad, float *dq, float *dk, float *dv);
int dm_attention_backward_f64(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                              const double *q, const double *k, const double *v,
                              const double *mask, const int64_t *mask_strides, int causal,
                              double scale, const double *out, const double *lse,
                              const double *grad, double *dq, double *dk, double *dv);

/* Which inner-loop path the float32 kernels use on this CPU: "avx512", "avx2" or "portable"
 * (DEEPMATH_ATTENTION_KERNEL=avx2|portable forces a slower one). */
const char *dm_attention_path(void);

#endif /* DM_ATTENTION_H */
