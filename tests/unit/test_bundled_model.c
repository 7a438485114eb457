/* The bundled model (models/shakespeare-char): libtextgen scores the held-out text that ships in
 * the folder and must agree with the loss PyTorch exported (training.json "eval"), which must be
 * that of a trained model; and sampling with the folder's generation_config.json defaults
 * produces printable text. The loss definition is in docs/models.md ("Evaluation"). */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static char *model_dir(void)
{
    const char *root = g_getenv("TG_SOURCE_ROOT");
    cr_assert_not_null(root, "TG_SOURCE_ROOT is not set (run through meson test)");
    return g_build_filename(root, "models", "shakespeare-char", NULL);
}

typedef struct {
    char *text_file; /* absolute path of the eval text */
    int32_t block_size;
    double loss; /* PyTorch's value */
    double val_loss;
} eval_info;

static eval_info read_eval(const char *dir)
{
    char *p = g_build_filename(dir, "training.json", NULL);
    JsonParser *parser = tu_json_load(p);
    JsonObject *root = tu_json_root_object(parser);
    cr_assert(json_object_has_member(root, "eval"), "%s has no \"eval\" object", p);
    JsonObject *ev = json_object_get_object_member(root, "eval");
    eval_info e;
    e.text_file = g_build_filename(dir, json_object_get_string_member(ev, "text_file"), NULL);
    e.block_size = (int32_t)json_object_get_int_member(ev, "block_size");
    e.loss = json_object_get_double_member(ev, "loss");
    e.val_loss = json_object_get_double_member(root, "val_loss");
    g_object_unref(parser);
    g_free(p);
    return e;
}

/* Mean NLL (nats/token): consecutive windows of B tokens from position 0, positions 0..B-2
 * predicting 1..B-1, the last partial window dropped; accumulated in double. */
static double eval_loss(const tg_model *model, const int32_t *ids, size_t n, int32_t B,
                        size_t *n_pred)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    cr_assert_eq(tg_model_get_info(&info, model), TG_OK);
    cr_assert(B >= 2 && B <= info.n_ctx, "block_size %d vs n_ctx %d", B, info.n_ctx);
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_ctx = (uint32_t)B;
    so.n_batch = (uint32_t)B;
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, model, &so), TG_OK, "%s", tg_error_last());
    tg_batch_row *rows = calloc((size_t)B, sizeof *rows);
    double total = 0;
    size_t count = 0;
    for (size_t w = 0; (w + 1) * (size_t)B <= n; w++) {
        const int32_t *t = ids + w * (size_t)B;
        cr_assert_eq(tg_session_seq_clear(s, 0), TG_OK);
        for (int32_t i = 0; i < B; i++)
            rows[i] = (tg_batch_row){.token = t[i], .pos = i, .seq = 0, .logits = i < B - 1};
        cr_assert_eq(tg_session_decode(s, rows, (size_t)B), TG_OK, "%s", tg_error_last());
        for (int32_t i = 0; i < B - 1; i++) {
            const float *lg;
            cr_assert_eq(tg_session_logits(&lg, s, (size_t)i), TG_OK, "%s", tg_error_last());
            double mx = -INFINITY;
            for (int32_t v = 0; v < info.n_vocab; v++)
                mx = fmax(mx, (double)lg[v]);
            double se = 0;
            for (int32_t v = 0; v < info.n_vocab; v++)
                se += exp((double)lg[v] - mx);
            total += mx + log(se) - (double)lg[t[i + 1]];
            count++;
        }
    }
    free(rows);
    tg_session_free(s);
    *n_pred = count;
    return total / (double)count;
}

static double score(uint32_t weight_type, const char *dir, const eval_info *e, size_t *n_pred)
{
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = weight_type;
    tg_model *model;
    cr_assert_eq(tg_model_load(&model, dir, &mo), TG_OK, "%s", tg_error_last());
    const tg_tokenizer *tok = tg_model_tokenizer(model);
    cr_assert_not_null(tok, "the bundled model has no tokenizer");
    size_t len;
    char *text = tu_read_file(e->text_file, &len);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, text, len, 0), TG_OK, "%s", tg_error_last());
    cr_assert_eq(n, len, "a character model: one token per character (%zu vs %zu)", n, len);
    double loss = eval_loss(model, ids, n, e->block_size, n_pred);
    tg_free(ids);
    g_free(text);
    tg_model_free(model);
    return loss;
}

Test(bundled_model, validation_loss_matches_pytorch_and_is_trained)
{
    char *dir = model_dir();
    eval_info e = read_eval(dir);
    size_t n_pred;
    double ours = score(TG_WEIGHTS_AUTO, dir, &e, &n_pred); /* F16 file: f32 compute */
    cr_log_info("validation.txt: libtextgen %.9f, PyTorch %.9f nats/char (%zu predictions); "
                "whole validation split (PyTorch) %.6f",
                ours, e.loss, n_pred, e.val_loss);
    cr_assert_gt(n_pred, 10000, "the eval text is too short (%zu predictions)", n_pred);
    cr_assert_leq(fabs(ours - e.loss), 1e-3, "libtextgen %.6f vs PyTorch %.6f", ours, e.loss);
    cr_assert_lt(ours, 1.9, "loss %.4f nats/char: not a trained model", ours);
    cr_assert_lt(e.val_loss, 1.9, "training.json val_loss %.4f", e.val_loss);
    g_free(e.text_file);
    g_free(dir);
}

/* bf16 matrices (half the memory traffic) lose a little accuracy, not the model. */
Test(bundled_model, bf16_weights_are_close)
{
    char *dir = model_dir();
    eval_info e = read_eval(dir);
    size_t n_pred;
    double ours = score(TG_WEIGHTS_BF16, dir, &e, &n_pred);
    cr_log_info("validation.txt with bf16 weights: %.9f vs PyTorch %.9f", ours, e.loss);
    cr_assert_leq(fabs(ours - e.loss), 0.02, "bf16 %.6f vs PyTorch %.6f", ours, e.loss);
    g_free(e.text_file);
    g_free(dir);
}

/* int8 weights (quantized at load, a scale per block of 32 inputs and output column) cost at most
 * 1 % of the validation loss of the same model in f32 (issue 12). */
Test(bundled_model, int8_weights_raise_the_loss_by_at_most_one_percent)
{
    char *dir = model_dir();
    eval_info e = read_eval(dir);
    size_t n32, n8;
    const double f32 = score(TG_WEIGHTS_F32, dir, &e, &n32);
    const double i8 = score(TG_WEIGHTS_INT8, dir, &e, &n8);
    cr_log_info("validation.txt: f32 %.6f, int8 %.6f nats/char (%+.3f %%)", f32, i8,
                100.0 * (i8 - f32) / f32);
    cr_assert_eq(n32, n8);
    cr_assert_leq(i8, 1.01 * f32, "int8 loss %.6f vs f32 %.6f: +%.3f %%", i8, f32,
                  100.0 * (i8 - f32) / f32);
    cr_assert_neq(i8, f32, "int8 gave f32's loss exactly: were the weights quantized?");
    g_free(e.text_file);
    g_free(dir);
}

/* The argmax of int8's logits equals f32's at >= 99 % of the first 1,000+ positions of the
 * held-out text (windows of block_size, every position predicting the next character). */
Test(bundled_model, int8_argmax_agrees_with_f32_on_99_percent_of_positions)
{
    char *dir = model_dir();
    eval_info e = read_eval(dir);
    size_t len;
    char *text = tu_read_file(e.text_file, &len);
    tg_model *m[2];
    const uint32_t types[2] = {TG_WEIGHTS_F32, TG_WEIGHTS_INT8};
    for (int t = 0; t < 2; t++) {
        tg_model_options mo = TG_MODEL_OPTIONS_INIT;
        mo.weight_type = types[t];
        cr_assert_eq(tg_model_load(&m[t], dir, &mo), TG_OK, "%s", tg_error_last());
    }
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tg_model_tokenizer(m[0]), text, len, 0), TG_OK);
    tg_model_info info = TG_MODEL_INFO_INIT;
    cr_assert_eq(tg_model_get_info(&info, m[0]), TG_OK);
    const int32_t B = e.block_size, V = info.n_vocab;
    tg_session *s[2];
    for (int t = 0; t < 2; t++) {
        tg_session_options so = TG_SESSION_OPTIONS_INIT;
        so.n_ctx = (uint32_t)B;
        so.n_batch = (uint32_t)B;
        cr_assert_eq(tg_session_create(&s[t], m[t], &so), TG_OK, "%s", tg_error_last());
    }
    tg_batch_row *rows = calloc((size_t)B, sizeof *rows);
    size_t agree = 0, total = 0;
    for (size_t w = 0; total < 1000 && (w + 1) * (size_t)B <= n; w++) {
        for (int32_t i = 0; i < B; i++)
            rows[i] = (tg_batch_row){ids[w * (size_t)B + (size_t)i], i, 0, 1};
        int32_t best[2][1024];
        cr_assert_leq(B, 1024);
        for (int t = 0; t < 2; t++) {
            cr_assert_eq(tg_session_seq_clear(s[t], 0), TG_OK);
            cr_assert_eq(tg_session_decode(s[t], rows, (size_t)B), TG_OK, "%s", tg_error_last());
            for (int32_t i = 0; i < B; i++) {
                const float *lg;
                cr_assert_eq(tg_session_logits(&lg, s[t], (size_t)i), TG_OK);
                best[t][i] = 0;
                for (int32_t v = 1; v < V; v++)
                    if (lg[v] > lg[best[t][i]])
                        best[t][i] = v;
            }
        }
        for (int32_t i = 0; i < B; i++) {
            agree += best[0][i] == best[1][i];
            total++;
        }
    }
    cr_log_info("int8 vs f32 argmax on validation.txt: %zu of %zu positions agree", agree, total);
    cr_assert_geq(total, 1000);
    cr_assert_geq((double)agree, 0.99 * (double)total, "%zu of %zu agree", agree, total);
    free(rows);
    for (int t = 0; t < 2; t++) {
        tg_session_free(s[t]);
        tg_model_free(m[t]);
    }
    tg_free(ids);
    g_free(text);
    g_free(e.text_file);
    g_free(dir);
}

static tg_result *generate(const tg_model *model, const char *spec, uint64_t seed)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = spec; /* NULL: generation_config.json */
    o.max_new_tokens = 100;
    o.seed = seed;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, "ROMEO:\n", &o), TG_OK, "%s", tg_error_last());
    return r;
}

Test(bundled_model, generates_printable_text_with_the_folder_defaults)
{
    char *dir = model_dir();
    tg_model *model;
    cr_assert_eq(tg_model_load(&model, dir, NULL), TG_OK, "%s", tg_error_last());
    tg_result *r = generate(model, NULL, 42);
    size_t n, len;
    tg_result_tokens(r, &n);
    const char *text = tg_result_text(r, &len);
    cr_assert_eq(n, 100);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_MAX_TOKENS);
    cr_assert_eq(len, 100, "one ASCII character per token");
    for (size_t i = 0; i < len; i++)
        cr_assert(text[i] == '\n' || (text[i] >= ' ' && text[i] <= '~'), "byte %zu is 0x%02x", i,
                  (unsigned char)text[i]);
    cr_log_info("sample (seed 42):\nROMEO:\n%s", text);

    /* Same seed, same text; the defaults are the folder's generation_config.json. */
    tg_result *again = generate(model, NULL, 42);
    cr_assert_str_eq(tg_result_text(again, NULL), text);
    tg_result *spelled = generate(model,
                                  "repetition_penalty(penalty=1.1, last_n=-1) temperature(t=0.8) "
                                  "top_k(k=40) top_p(p=0.95) dist",
                                  42);
    cr_assert_str_eq(tg_result_text(spelled, NULL), text);
    tg_result *other = generate(model, NULL, 43);
    cr_assert_str_neq(tg_result_text(other, NULL), text);

    tg_result_free(r);
    tg_result_free(again);
    tg_result_free(spelled);
    tg_result_free(other);
    tg_model_free(model);
    g_free(dir);
}
