/* nanogpt_logits — helper of test_convert_nanogpt.py (public API only).
 *
 *   nanogpt_logits DIR logits IDS OUT.bin   run the comma-separated token ids IDS from position 0
 *                                           (f32 weights) and write T x n_vocab float32 logits
 *                                           (host byte order) to OUT.bin; prints "T n_vocab".
 *   nanogpt_logits DIR encode TEXT          print the ids of TEXT (model tokenizer),
 * comma-separated. nanogpt_logits DIR decode IDS           print the text of the comma-separated
 * ids. Exit status 1 with the library's message on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static int fail(const char *what)
{
    fprintf(stderr, "nanogpt_logits: %s: %s\n", what, tg_error_last());
    return 1;
}

static int32_t *parse_ids(const char *s, size_t *n)
{
    size_t cap = 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    *n = 0;
    while (ids && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (*n == cap) {
            int32_t *bigger = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!bigger) {
                free(ids);
                return NULL;
            }
            ids = bigger;
        }
        ids[(*n)++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return ids;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DIR logits IDS OUT.bin | DIR encode TEXT | DIR decode IDS\n",
                argv[0]);
        return 2;
    }
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = TG_WEIGHTS_F32;
    tg_model *model;
    if (tg_model_load(&model, argv[1], &mo) != TG_OK)
        return fail(argv[1]);
    int rc = 0;
    if (strcmp(argv[2], "encode") == 0 || strcmp(argv[2], "decode") == 0) {
        const tg_tokenizer *tok = tg_model_tokenizer(model);
        if (!tok) {
            fprintf(stderr, "nanogpt_logits: %s has no tokenizer\n", argv[1]);
            tg_model_free(model);
            return 1;
        }
        if (argv[2][0] == 'e') {
            int32_t *ids;
            size_t n;
            if (tg_tokenizer_encode(&ids, &n, tok, argv[3], TG_NUL_TERMINATED, 0) != TG_OK) {
                rc = fail("encode");
            } else {
                for (size_t i = 0; i < n; i++)
                    printf("%s%d", i ? "," : "", (int)ids[i]);
                printf("\n");
                tg_free(ids);
            }
        } else {
            size_t n;
            int32_t *ids = parse_ids(argv[3], &n);
            char *text;
            size_t len;
            if (!ids || tg_tokenizer_decode(&text, &len, tok, ids, n, 0) != TG_OK) {
                rc = fail("decode");
            } else {
                fwrite(text, 1, len, stdout);
                tg_free(text);
            }
            free(ids);
        }
        tg_model_free(model);
        return rc;
    }
    if (strcmp(argv[2], "logits") != 0 || argc != 5) {
        fprintf(stderr, "nanogpt_logits: unknown command '%s'\n", argv[2]);
        tg_model_free(model);
        return 2;
    }
    size_t n;
    int32_t *ids = parse_ids(argv[3], &n);
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_session *s = NULL;
    tg_batch_row *rows = ids ? calloc(n ? n : 1, sizeof *rows) : NULL;
    FILE *f = NULL;
    if (!ids || !rows || n == 0) {
        fprintf(stderr, "nanogpt_logits: no token ids\n");
        rc = 1;
    } else if (tg_model_get_info(&info, model) != TG_OK) {
        rc = fail("info");
    } else if (tg_session_create(&s, model, NULL) != TG_OK) {
        rc = fail("session");
    } else {
        for (size_t i = 0; i < n; i++)
            rows[i] = (tg_batch_row){.token = ids[i], .pos = (int32_t)i, .seq = 0, .logits = 1};
        if (tg_session_decode(s, rows, n) != TG_OK) {
            rc = fail("decode");
        } else if (!(f = fopen(argv[4], "wb"))) {
            perror(argv[4]);
            rc = 1;
        } else {
            for (size_t i = 0; i < n && rc == 0; i++) {
                const float *lg;
                if (tg_session_logits(&lg, s, i) != TG_OK)
                    rc = fail("logits");
                else if (fwrite(lg, sizeof *lg, (size_t)info.n_vocab, f) != (size_t)info.n_vocab)
                    rc = 1;
            }
            if (fclose(f) != 0)
                rc = 1;
            if (rc == 0)
                printf("%zu %d\n", n, (int)info.n_vocab);
        }
    }
    tg_session_free(s);
    free(rows);
    free(ids);
    tg_model_free(model);
    return rc;
}
