/* backend/softmax.h — internal: the softmax both attention kernels use (decode and prefill), so a
 * row gets the same probabilities whichever path computes it. */
#ifndef TG_BACKEND_SOFTMAX_H
#define TG_BACKEND_SOFTMAX_H

#include "simd.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Softmax of s[0..n) in place (n >= 1): max, e^(x - max) 8 lanes at a time, one reciprocal. */
TG_INLINE void tg__softmax(float *s, int64_t n)
{
    v8f acc = {0}, x;
    int64_t j = 0;
    float mx = s[0];
    if (n >= 8) { /* the max 8 lanes at a time (exact: any order gives the same max) */
        v8f vm;
        memcpy(&vm, s, sizeof vm);
        for (j = 8; j + 8 <= n; j += 8) {
            memcpy(&x, s + j, sizeof x);
            const v8i gt = x > vm;
            vm = (v8f)(((v8i)x & gt) | ((v8i)vm & ~gt));
        }
        for (int c = 0; c < 8; c++)
            mx = vm[c] > mx ? vm[c] : mx;
    }
    for (; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    j = 0;
    for (; j + 8 <= n; j += 8) {
        memcpy(&x, s + j, sizeof x);
        x -= mx;
        tg__exp_nonpositive(&x);
        memcpy(s + j, &x, sizeof x);
        acc += x;
    }
    float sum = tg__hsum8(&acc);
    for (; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    const float inv = 1.0f / sum;
    for (j = 0; j + 8 <= n; j += 8) {
        memcpy(&x, s + j, sizeof x);
        x *= inv;
        memcpy(s + j, &x, sizeof x);
    }
    for (; j < n; j++)
        s[j] *= inv;
}

#endif
