/* greedy.c — the smallest complete use of libtextgen: load a model folder, feed a prompt of token
 * ids, print the greedy continuation. Usage: greedy MODEL_DIR [N_NEW] [ID ...] */
#include <stdio.h>
#include <stdlib.h>
#include <textgen/textgen.h>

static int fail(const char *what)
{
    fprintf(stderr, "greedy: %s: %s\n", what, tg_error_last());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [N_NEW] [TOKEN_ID ...]\n", argv[0]);
        return 2;
    }
    int n_new = argc > 2 ? atoi(argv[2]) : 20;
    tg_model *model;
    if (tg_model_load(&model, argv[1], NULL) != TG_OK)
        return fail("loading the model");
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, model);
    tg_session *session;
    if (tg_session_create(&session, model, NULL) != TG_OK) {
        tg_model_free(model);
        return fail("creating a session");
    }
    int n_prompt = argc > 3 ? argc - 3 : 1;
    tg_batch_row *rows = calloc((size_t)n_prompt, sizeof *rows);
    for (int i = 0; i < n_prompt; i++) {
        rows[i].token = argc > 3 ? atoi(argv[3 + i]) : (info.bos_id >= 0 ? info.bos_id : 0);
        rows[i].pos = i;
        rows[i].logits = i == n_prompt - 1;
    }
    int rc = 0;
    tg_status st = tg_session_decode(session, rows, (size_t)n_prompt);
    size_t last = (size_t)n_prompt - 1;
    for (int step = 0; st == TG_OK && step < n_new; step++) {
        const float *logits;
        if ((st = tg_session_logits(&logits, session, last)) != TG_OK)
            break;
        int best = 0;
        for (int v = 1; v < info.n_vocab; v++)
            if (logits[v] > logits[best])
                best = v;
        printf("%d%s", best, step + 1 < n_new ? " " : "\n");
        fflush(stdout);
        tg_batch_row next = {best, n_prompt + step, 0, 1};
        st = tg_session_decode(session, &next, 1);
        last = 0;
    }
    if (st != TG_OK)
        rc = fail("decoding");
    free(rows);
    tg_session_free(session);
    tg_model_free(model);
    return rc;
}
