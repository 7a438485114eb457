/* make_gpt2_model.c — write a GPT-2 124M-shaped model folder with random weights, for benchmarks.
 *
 * Usage: make_gpt2_model OUT_DIR [--bf16] [--seed N] [--layers N] [--embd N] [--heads N]
 *                                [--vocab N] [--ctx N]
 *
 * Writes OUT_DIR/config.json and OUT_DIR/model.safetensors with Hugging Face GPT-2 tensor names
 * (wte, wpe, h.N.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj}, ln_f; Conv1D weights
 * stored [in, out]; lm_head tied to wte). Matrices and embeddings ~ N(0, 0.02) as in GPT-2's
 * initialisation, LayerNorm weights 1, all biases 0 (model_writer.c). F32 by default, BF16 with
 * --bf16. Defaults are GPT-2 small: 12 layers, n_embd 768, 12 heads, vocab 50257, 1024
 * positions. */
#include "model_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s OUT_DIR [--bf16] [--seed N] [--layers N] [--embd N] [--heads N] "
            "[--vocab N] [--ctx N]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int bf16 = 0;
    long layers = 12, embd = 768, heads = 12, vocab = 50257, ctx = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *num = NULL;
        if (strcmp(a, "--bf16") == 0)
            bf16 = 1;
        else if (strcmp(a, "--seed") == 0 && i + 1 < argc)
            mw_seed(strtoull(argv[++i], NULL, 0));
        else if (strcmp(a, "--layers") == 0)
            num = &layers;
        else if (strcmp(a, "--embd") == 0)
            num = &embd;
        else if (strcmp(a, "--heads") == 0)
            num = &heads;
        else if (strcmp(a, "--vocab") == 0)
            num = &vocab;
        else if (strcmp(a, "--ctx") == 0)
            num = &ctx;
        else if (a[0] == '-' || dir)
            usage(argv[0]);
        else
            dir = a;
        if (num) {
            if (i + 1 >= argc)
                usage(argv[0]);
            *num = strtol(argv[++i], NULL, 10);
            if (*num < 1)
                usage(argv[0]);
        }
    }
    if (!dir || embd % heads != 0)
        usage(argv[0]);

    mw_model m = {.prog = "make_gpt2_model"};
    mw_add2(&m, "wte.weight", vocab, embd);
    mw_add2(&m, "wpe.weight", ctx, embd);
    for (long l = 0; l < layers; l++) {
        char nm[96];
#define NM(suffix) (snprintf(nm, sizeof nm, "h.%ld.%s", l, suffix), nm)
        mw_add1(&m, NM("ln_1.weight"), embd, MW_ONE);
        mw_add1(&m, NM("ln_1.bias"), embd, MW_ZERO);
        mw_add2(&m, NM("attn.c_attn.weight"), embd, 3 * embd);
        mw_add1(&m, NM("attn.c_attn.bias"), 3 * embd, MW_ZERO);
        mw_add2(&m, NM("attn.c_proj.weight"), embd, embd);
        mw_add1(&m, NM("attn.c_proj.bias"), embd, MW_ZERO);
        mw_add1(&m, NM("ln_2.weight"), embd, MW_ONE);
        mw_add1(&m, NM("ln_2.bias"), embd, MW_ZERO);
        mw_add2(&m, NM("mlp.c_fc.weight"), embd, 4 * embd);
        mw_add1(&m, NM("mlp.c_fc.bias"), 4 * embd, MW_ZERO);
        mw_add2(&m, NM("mlp.c_proj.weight"), 4 * embd, embd);
        mw_add1(&m, NM("mlp.c_proj.bias"), embd, MW_ZERO);
#undef NM
    }
    mw_add1(&m, "ln_f.weight", embd, MW_ONE);
    mw_add1(&m, "ln_f.bias", embd, MW_ZERO);

    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\n"
             "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
             "  \"model_type\": \"gpt2\",\n"
             "  \"activation_function\": \"gelu_new\",\n"
             "  \"vocab_size\": %ld,\n"
             "  \"n_positions\": %ld,\n"
             "  \"n_ctx\": %ld,\n"
             "  \"n_embd\": %ld,\n"
             "  \"n_layer\": %ld,\n"
             "  \"n_head\": %ld,\n"
             "  \"layer_norm_epsilon\": 1e-05,\n"
             "  \"initializer_range\": 0.02,\n"
             "  \"bos_token_id\": %ld,\n"
             "  \"eos_token_id\": %ld,\n"
             "  \"tie_word_embeddings\": true,\n"
             "  \"torch_dtype\": \"%s\"\n"
             "}\n",
             vocab, ctx, ctx, embd, layers, heads, vocab - 1, vocab - 1,
             bf16 ? "bfloat16" : "float32");
    mw_write(&m, dir, bf16, cfg);
    free(m.t);
    return 0;
}
