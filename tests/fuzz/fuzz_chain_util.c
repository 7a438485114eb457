/* fuzz_chain_util.c — see fuzz_chain_util.h. */
#include "fuzz_chain_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED 1234
#define MAX_STEPS 4

static tg_model *model;
static int32_t n_vocab;
static float *logits[MAX_STEPS + 2];

const tg_model *fzc_model(void)
{
    if (model)
        return model;
    char *dir = fz_data_path("models/char_tiny");
    if (tg_model_load(&model, dir, NULL) != TG_OK)
        fz_fail("loading the char_tiny test model");
    g_free(dir);
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, model);
    n_vocab = info.n_vocab;
    for (int s = 0; s < MAX_STEPS + 2; s++) {
        logits[s] = g_new(float, (size_t)n_vocab);
        for (int32_t i = 0; i < n_vocab; i++)
            logits[s][i] = (float)(3.0 * sin(0.37 * i + 1.3 * s)) + (i % 7 == 0 ? 1.5f : 0.0f);
        logits[s][(5 + s) % n_vocab] = -INFINITY;
    }
    return model;
}

void fzc_options(tg_chain_options *opts)
{
    const tg_chain_options d = TG_CHAIN_OPTIONS_INIT;
    *opts = d;
    opts->model = fzc_model();
    opts->seed = SEED;
}

const float *fzc_logits(int step)
{
    fzc_model();
    return logits[step % (MAX_STEPS + 2)];
}

static void check_round_trip(const tg_chain *c)
{
    char *printed = NULL;
    if (tg_chain_print(&printed, c) != TG_OK)
        fz_fail("tg_chain_print of a valid chain");
    tg_chain_options o;
    fzc_options(&o);
    tg_chain *again = NULL;
    if (tg_chain_parse(&again, printed, &o) != TG_OK)
        fz_fail("the printed spec of a valid chain does not parse");
    char *reprinted = NULL;
    if (tg_chain_print(&reprinted, again) != TG_OK || strcmp(printed, reprinted) != 0)
        fz_fail("print -> parse -> print changes the spec");
    tg_free(reprinted);
    tg_free(printed);
    tg_chain_free(again);
}

/* One step: sample, check, accept. Returns 0 when the step failed (with a message). */
static int step(tg_chain *c, int s, int32_t *token)
{
    float lp = 0;
    tg_status st = tg_chain_sample(token, &lp, c, fzc_logits(s));
    if (st != TG_OK) {
        if (!tg_error_last()[0])
            fz_fail("a failing step must say why");
        return 0;
    }
    if (*token < 0 || *token >= n_vocab)
        fz_fail("a sampled token outside the vocabulary");
    if (isnan(lp) || lp > 1e-3f)
        fz_fail("a sampled token's log-probability is NaN or above 0");
    if (tg_chain_accept(c, *token) != TG_OK)
        fz_fail("accepting the sampled token");
    int32_t stop = 0;
    if (tg_chain_check_stop(&stop, c) != TG_OK)
        fz_fail("tg_chain_check_stop");
    return 1;
}

/* A clone and a snapshot copy of `c`, made now, choose the same next token as `c` does. */
static void check_copies(tg_chain *c, int s)
{
    tg_chain *clone = NULL;
    if (tg_chain_clone(&clone, c) != TG_OK)
        fz_fail("tg_chain_clone of a valid chain");
    tg_chain *restored = NULL;
    void *snap = NULL;
    size_t snap_len = 0;
    tg_status saved = tg_chain_save(&snap, &snap_len, c);
    if (saved == TG_OK) {
        char *printed = NULL;
        tg_chain_options o;
        fzc_options(&o);
        if (tg_chain_print(&printed, c) != TG_OK || tg_chain_parse(&restored, printed, &o) != TG_OK)
            fz_fail("re-making a valid chain from its printed spec");
        if (tg_chain_restore(restored, snap, snap_len) != TG_OK)
            fz_fail("restoring a snapshot into a chain of the same spec");
        tg_free(printed);
        tg_free(snap);
    } else if (saved != TG_EUNSUPPORTED) {
        fz_fail("tg_chain_save failed other than 'cannot save'");
    }
    /* A snapshot holds no seed (it is configuration, like the stages): give all three the same
     * one (a chain file may have set another). */
    tg_chain *const all[3] = {c, clone, restored};
    for (int i = 0; i < 3; i++)
        if (all[i] && tg_chain_set_seed(all[i], SEED + 1, 0) != TG_OK)
            fz_fail("tg_chain_set_seed");
    int32_t t0 = -1, t1 = -1, t2 = -1;
    int ok0 = step(c, s, &t0), ok1 = step(clone, s, &t1);
    if (ok0 != ok1 || (ok0 && t0 != t1))
        fz_fail("a clone chooses differently from its chain");
    if (restored) {
        int ok2 = step(restored, s, &t2);
        if (ok0 != ok2 || (ok0 && t0 != t2))
            fz_fail("a restored snapshot chooses differently from its chain");
    }
    tg_chain_free(clone);
    tg_chain_free(restored);
}

void fzc_exercise(tg_chain *c)
{
    check_round_trip(c);
    static const int32_t prompt[] = {1, 2, 3, 2, 1};
    if (tg_chain_set_prompt(c, prompt, sizeof prompt / sizeof prompt[0]) != TG_OK)
        fz_fail("tg_chain_set_prompt");
    int32_t token;
    for (int s = 0; s < MAX_STEPS; s++) {
        if (s == 2) {
            check_copies(c, s); /* runs step s on the chain too */
            continue;
        }
        if (!step(c, s, &token))
            break;
    }
}
