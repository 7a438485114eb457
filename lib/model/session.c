/* model/session.c — the public tg_session API: argument checks, sequence bookkeeping and the
 * logits buffer; the computation and the KV cache are the backend's (backend/backend.h). */
#include "core/alloc.h"
#include "model_internal.h"
#include "limits.h"
#include "core/error.h"
#include "core/versioned.h"
#include "backend/kernels/cpus.h"

#include <stdlib.h>
#include <string.h>

struct tg_session {
    const tg_model *model;
    tg_backend_ctx *ctx;
    int32_t n_seq, n_ctx, n_batch, n_threads;
    int32_t *seq_len;
    float *logits;   /* n_out x n_vocab of the last decode */
    size_t *row_out; /* per row of the last decode: index into logits, or SIZE_MAX */
    size_t n_rows_last;
};

/* The default thread count: every CPU this process may run on (its affinity mask, capped by a
 * CPU quota of its cgroup: backend/kernels/cpus.h). The session's thread pool keeps 2 threads
 * from being slower than 1 when another process holds a core (docs/performance.md, "Threads"),
 * so there is no reason to leave a CPU idle by default. */
static int32_t default_threads(void)
{
    return tg__cpus_available(NULL);
}

tg_status tg_session_options_init(tg_session_options *opts, uint32_t struct_size)
{
    tg_error_clear();
    const tg_session_options d = TG_SESSION_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_SESSION_OPTIONS_V1_SIZE,
                           "tg_session_options");
}

void tg_session_free(tg_session *s)
{
    if (!s)
        return;
    tg__backend_ctx_free(s->ctx);
    free(s->seq_len);
    free(s->logits);
    free(s->row_out);
    free(s);
}

tg_status tg_session_create(tg_session **out, const tg_model *model, const tg_session_options *opts)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(model, "model");
    tg_session_options o = TG_SESSION_OPTIONS_INIT;
    if (opts) {
        tg_status st =
            tg__struct_read(&o, sizeof o, opts, TG_SESSION_OPTIONS_V1_SIZE, "tg_session_options");
        if (st != TG_OK)
            return st;
    }
    const int32_t model_ctx = model->cfg.hp.n_ctx;
    if (o.n_seq < 1 || o.n_seq > TG_MAX_SEQ)
        return tg__error(TG_ERANGE, "tg_session_options.n_seq = %u is out of range [1, %d]",
                         o.n_seq, TG_MAX_SEQ);
    if (o.n_ctx == 0)
        o.n_ctx = (uint32_t)model_ctx;
    if (o.n_ctx > (uint32_t)model_ctx)
        return tg__error(TG_ERANGE,
                         "tg_session_options.n_ctx = %u exceeds the model's context length %d",
                         o.n_ctx, (int)model_ctx);
    if (o.n_batch == 0)
        o.n_batch = o.n_ctx * o.n_seq < 4096 ? o.n_ctx * o.n_seq : 4096;
    if (o.n_batch > 65536)
        return tg__error(TG_ERANGE, "tg_session_options.n_batch = %u is out of range [1, 65536]",
                         o.n_batch);
    if (o.n_threads < 0 || o.n_threads > 1024)
        return tg__error(TG_ERANGE, "tg_session_options.n_threads = %d is out of range [0, 1024]",
                         (int)o.n_threads);
    int32_t threads = o.n_threads ? o.n_threads : default_threads();
    tg_session *s = tg__calloc(1, sizeof *s);
    if (!s)
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    s->model = model;
    s->n_seq = (int32_t)o.n_seq;
    s->n_ctx = (int32_t)o.n_ctx;
    s->n_batch = (int32_t)o.n_batch;
    s->n_threads = threads;
    s->seq_len = tg__calloc(o.n_seq, sizeof *s->seq_len);
    s->row_out = tg__malloc(o.n_batch * sizeof *s->row_out);
    if (!s->seq_len || !s->row_out) {
        tg_session_free(s);
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    }
    tg_status st = tg__backend_ctx_create(&s->ctx, model->backend, s->n_seq, s->n_ctx, s->n_batch,
                                          threads, model->kv_type == TG_KV_BF16);
    if (st != TG_OK) {
        tg_session_free(s);
        return st;
    }
    *out = s;
    return TG_OK;
}

static tg_status check_seq(const tg_session *s, int32_t seq, const char *name)
{
    if (seq < 0 || seq >= s->n_seq)
        return tg__error(TG_ERANGE, "%s = %d is outside the session's sequences [0, %d)", name,
                         (int)seq, (int)s->n_seq);
    return TG_OK;
}

tg_status tg_session_decode(tg_session *s, const tg_batch_row *rows, size_t n_rows)
{
    tg_error_clear();
    TG_CHECK_ARG(s, "session");
    TG_CHECK_ARG(rows || n_rows == 0, "rows");
    if (n_rows == 0)
        return tg__error(TG_EINVAL, "tg_session_decode: the batch is empty");
    if (n_rows > (size_t)s->n_batch)
        return tg__error(TG_ERANGE, "tg_session_decode: %zu rows exceed the session's n_batch %d",
                         n_rows, (int)s->n_batch);
    const int32_t n_vocab = s->model->cfg.hp.n_vocab;
    /* Validate everything before touching the cache: on failure nothing is appended. */
    int32_t *len = tg__malloc((size_t)s->n_seq * sizeof *len);
    if (!len)
        return tg__error(TG_ENOMEM, "out of memory");
    memcpy(len, s->seq_len, (size_t)s->n_seq * sizeof *len);
    tg_status st = TG_OK;
    size_t n_out = 0;
    for (size_t i = 0; i < n_rows && st == TG_OK; i++) {
        const tg_batch_row *r = &rows[i];
        if (r->token < 0 || r->token >= n_vocab)
            st = tg__error(TG_ERANGE, "row %zu: token id %d is outside the vocabulary [0, %d)", i,
                           (int)r->token, (int)n_vocab);
        else if (r->seq < 0 || r->seq >= s->n_seq)
            st = tg__error(TG_ERANGE, "row %zu: sequence %d is outside the session's [0, %d)", i,
                           (int)r->seq, (int)s->n_seq);
        else if (r->pos >= s->n_ctx)
            st = tg__error(TG_ERANGE, "row %zu: position %d is past the context length n_ctx = %d",
                           i, (int)r->pos, (int)s->n_ctx);
        else if (r->pos != len[r->seq])
            st = tg__error(TG_EINVAL,
                           "row %zu: position %d of sequence %d must be %d (the next free "
                           "position; rewind with tg_session_seq_truncate)",
                           i, (int)r->pos, (int)r->seq, (int)len[r->seq]);
        else {
            len[r->seq]++;
            n_out += r->logits != 0;
        }
    }
    if (st == TG_OK && n_out) {
        float *lg = tg__realloc(s->logits, n_out * (size_t)n_vocab * sizeof(float));
        if (!lg)
            st = tg__error(TG_ENOMEM, "out of memory for %zu rows of logits", n_out);
        else
            s->logits = lg;
    }
    if (st == TG_OK)
        st = tg__backend_forward(s->ctx, rows, n_rows, s->logits);
    if (st == TG_OK) {
        memcpy(s->seq_len, len, (size_t)s->n_seq * sizeof *len);
        size_t k = 0;
        for (size_t i = 0; i < n_rows; i++)
            s->row_out[i] = rows[i].logits ? k++ : SIZE_MAX;
        s->n_rows_last = n_rows;
    } else {
        s->n_rows_last = 0;
    }
    free(len);
    return st;
}

tg_status tg_session_logits(const float **out, const tg_session *s, size_t row)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(s, "session");
    if (row >= s->n_rows_last)
        return tg__error(TG_EINVAL,
                         "tg_session_logits: row %zu is not a row of the last decode "
                         "(%zu rows)",
                         row, s->n_rows_last);
    if (s->row_out[row] == SIZE_MAX)
        return tg__error(TG_EINVAL, "tg_session_logits: row %zu did not ask for logits", row);
    *out = s->logits + s->row_out[row] * (size_t)s->model->cfg.hp.n_vocab;
    return TG_OK;
}

tg_status tg_session_seq_length(int32_t *out, const tg_session *s, int32_t seq)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(s, "session");
    tg_status st = check_seq(s, seq, "seq");
    if (st == TG_OK)
        *out = s->seq_len[seq];
    return st;
}

tg_status tg_session_seq_clear(tg_session *s, int32_t seq)
{
    tg_error_clear();
    return tg_session_seq_truncate(s, seq, 0);
}

tg_status tg_session_seq_truncate(tg_session *s, int32_t seq, int32_t n_keep)
{
    tg_error_clear();
    TG_CHECK_ARG(s, "session");
    tg_status st = check_seq(s, seq, "seq");
    if (st != TG_OK)
        return st;
    if (n_keep < 0 || n_keep > s->seq_len[seq])
        return tg__error(TG_ERANGE, "n_keep = %d is outside [0, %d] (length of sequence %d)",
                         (int)n_keep, (int)s->seq_len[seq], (int)seq);
    tg__backend_seq_truncate(s->ctx, seq, n_keep);
    s->seq_len[seq] = n_keep;
    s->n_rows_last = 0; /* logits of rows that may be gone are no longer valid */
    return TG_OK;
}

tg_status tg_session_seq_copy(tg_session *s, int32_t dst, int32_t src)
{
    tg_error_clear();
    TG_CHECK_ARG(s, "session");
    tg_status st = check_seq(s, dst, "dst");
    if (st == TG_OK)
        st = check_seq(s, src, "src");
    if (st != TG_OK)
        return st;
    if (dst == src)
        return TG_OK;
    if ((st = tg__backend_seq_copy(s->ctx, dst, src, s->seq_len[src])) != TG_OK)
        return st;
    s->seq_len[dst] = s->seq_len[src];
    return TG_OK;
}

const tg_model *tg_session_model(const tg_session *s)
{
    return s ? s->model : NULL;
}

tg_status tg_session_get_info(tg_session_info *out, const tg_session *s)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(s, "session");
    tg_kv_stats kv;
    tg__backend_kv_stats(s->ctx, &kv);
    tg_session_info full = {
        .struct_size = sizeof full,
        .n_seq = (uint32_t)s->n_seq,
        .n_ctx = (uint32_t)s->n_ctx,
        .n_batch = (uint32_t)s->n_batch,
        .n_threads = s->n_threads,
        .kv_block_positions = kv.block_positions,
        .kv_block_bytes = kv.block_bytes,
        .kv_bytes_in_use = kv.blocks_in_use * kv.block_bytes,
        .kv_bytes_allocated = kv.blocks_allocated * kv.block_bytes,
    };
    return tg__struct_write(out, &full, sizeof full, TG_SESSION_INFO_V1_SIZE, "tg_session_info");
}
