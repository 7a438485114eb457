/* backend/linear_prefill.h — internal: oneDNN's matmul run directly on the hand-written kernels'
 * packed panels, for products of many rows (prompts).
 *
 * At M = 1..8 the kmat kernels stream weights faster than oneDNN 2.6 (docs/performance.md);
 * for a prompt of dozens of rows oneDNN's brgemm does more arithmetic per cycle. Both can read
 * the same bytes: an f32 panel [K][32] is oneDNN's BA16a32b layout (K a multiple of 16), a bf16
 * panel [K/2][32][2] is BA16a32b2a (K a multiple of 32). So prompts go to oneDNN with no second
 * copy of the weights; int8 and other shapes stay on kmat. */
#ifndef TG_BACKEND_LINEAR_PREFILL_H
#define TG_BACKEND_LINEAR_PREFILL_H

#include "kernels/kmat.h"
#include "linear.h"

/* Rows from which a plan runs on oneDNN (when tg__prefill_fits). */
#define TG_PREFILL_MIN_M 16

typedef struct tg_prefill tg_prefill;

/* Whether oneDNN can read `w` in place, with a kernel of its own for this CPU (else the prompt
 * runs on the kmat kernels, as decode does). */
int tg__prefill_fits(const tg_kmat *w);

/* A oneDNN plan for `cfg` over the packed matrices w[0] (and w[1], the up half, when gated) with
 * biases (NULL or N floats each). *scratch_size: bytes of the caller's scratch a run needs. */
tg_status tg__prefill_create(tg_prefill **out, const tg_kmat *w, float *const *bias, int gated,
                             const tg_linear_cfg *cfg, const char *name, size_t *scratch_size);
void tg__prefill_free(tg_prefill *p);

/* dst = epilogue(src [M, K] f32 . W + b), as the plan's cfg says, for matrices w (and biases) of
 * the same class as the plan's: one plan serves the same role in every layer. */
tg_status tg__prefill_run(tg_prefill *p, const tg_kmat *w, float *const *bias, const float *src,
                          void *dst, void *scratch);

#endif
