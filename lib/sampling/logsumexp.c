/* sampling/logsumexp.c — log(sum of e^x) over a vector of logits, the normaliser of every
 * log-probability the library reports (a token's logprob in generation, a beam's scores). It runs
 * over the whole vocabulary every step (4 x 50,257 values per beam search step with 4 beams), so
 * it is vectorised: 8 lanes at a time, Cephes' expf (relative error ~1e-7), partial sums moved to
 * a double every 256 values. libm's double exp() here was a visible part of a step. */
#include "backend/simd.h"
#include "sampling_internal.h"

#include <math.h>

/* Static: the clones' ifunc would otherwise be exported (a hidden ifunc is not honoured). */
TG_CLONES
static double log_sum_exp(const float *x, size_t n)
{
    v8f v, m = {0};
    m += -INFINITY;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, x + i, sizeof v);
        const v8i gt = v > m; /* NaN never wins */
        m = (v8f)(((v8i)v & gt) | ((v8i)m & ~gt));
    }
    float mx = -INFINITY;
    for (int k = 0; k < 8; k++)
        mx = m[k] > mx ? m[k] : mx;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    if (!isfinite(mx))
        return mx; /* nothing finite: -inf (or +inf) */
    const v8f least = (v8f){0} - 87.0f;
    double sum = 0;
    i = 0;
    while (i + 8 <= n) {
        v8f acc = {0};
        for (const size_t end = i + 256 < n ? i + 256 : n; i + 8 <= end; i += 8) {
            memcpy(&v, x + i, sizeof v);
            v -= mx;
            /* below -87 (bans are -inf, which the exp cannot take): e^-87, nothing beside e^0 */
            const v8i below = v < least;
            v = (v8f)(((v8i)v & ~below) | ((v8i)least & below));
            tg__exp_nonpositive(&v);
            acc += v;
        }
        sum += tg__hsum8(&acc);
    }
    for (; i < n; i++)
        sum += exp((double)x[i] - mx);
    return (double)mx + log(sum);
}

double tg__log_sum_exp(const float *x, size_t n)
{
    return log_sum_exp(x, n);
}
