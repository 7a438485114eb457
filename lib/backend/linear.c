/* backend/linear.c — the linear seam's dispatch: which implementation prepares a matrix. */
#include "linear.h"

tg_status tg__linear_create(tg_linear **out, const tg_linear_desc *d)
{
    /* oneDNN runs every precision there is today; an int8 or hand-written implementation is
     * chosen here, by precision (and CPU features), when it exists. */
    return tg__linear_dnnl_create(out, d);
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
