/* backend/linear.c — the linear seam's dispatch: which implementation prepares a matrix. */
#include "core/alloc.h"
#include "core/error.h"
#include "linear.h"

#include <stdlib.h>
#include <string.h>

/* The hand-written kernels run every precision, and beat oneDNN 2.6's matmuls at decode (they
 * stream the weights at the memory's bandwidth, docs/performance.md). $TEXTGEN_LINEAR=onednn
 * selects oneDNN for f32 and bf16 instead: for benchmarks comparing the two in one build. */
tg_status tg__linear_create(tg_linear **out, const tg_linear_desc *d)
{
    const char *impl = getenv("TEXTGEN_LINEAR");
    if (impl && strcmp(impl, "onednn") == 0 && d->precision != TG_PREC_INT8)
        return tg__linear_dnnl_create(out, d);
    return tg__linear_kmat_create(out, d);
}

void tg__linear_free(tg_linear *l)
{
    if (l)
        l->ops->destroy(l);
}

int tg__linear_same_class(const tg_linear *a, const tg_linear *b)
{
    return a->ops == b->ops && a->K == b->K && a->N == b->N && a->has_bias == b->has_bias &&
           a->gated == b->gated && a->precision == b->precision && a->src == b->src;
}

tg_status tg__linear_load_bias(float **out, const tg_tensor *const *parts,
                               const tg_tensor *const *bias, int n, int64_t K, int64_t N,
                               const char *name)
{
    *out = NULL;
    float *b = tg__calloc((size_t)N, sizeof *b);
    if (!b)
        return tg__error(TG_ENOMEM, "out of memory loading the bias of %s", name);
    *out = b;
    for (int i = 0; i < n; i++) {
        if (bias && bias[i])
            tg__tensor_to_f32(b, bias[i], 0, (size_t)bias[i]->numel);
        b += parts[i]->numel / K; /* the part's output width */
    }
    return TG_OK;
}
