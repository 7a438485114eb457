/* make_llama_model.c — write a Llama-shaped model folder with random weights, for benchmarks.
 *
 * Usage: make_llama_model OUT_DIR [--bf16] [--seed N] [--layers N] [--embd N] [--heads N]
 *                                 [--kv-heads N] [--ff N] [--vocab N] [--ctx N] [--untied]
 *
 * Writes OUT_DIR/config.json (model_type "llama") and OUT_DIR/model.safetensors with Hugging Face
 * LlamaForCausalLM names (model.embed_tokens, model.layers.N.{input_layernorm, self_attn.{q,k,v,o}
 * _proj, post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm; nn.Linear [out, in];
 * lm_head tied unless --untied). Matrices ~ N(0, 0.02), RMSNorm weights 1 (model_writer.c). The
 * defaults are SmolLM2-135M's shape, the 124M-class Llama of today: 30 layers, hidden 576, 9
 * heads with 3 KV heads (head_dim 64), MLP 1536, vocab 49152, 8192 positions, rope_theta 1e5,
 * tied embeddings; 134,515,008 parameters. */
#include "model_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s OUT_DIR [--bf16] [--seed N] [--layers N] [--embd N] [--heads N] "
            "[--kv-heads N] [--ff N] [--vocab N] [--ctx N] [--untied]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int bf16 = 0, untied = 0;
    long layers = 30, embd = 576, heads = 9, kv_heads = 3, ff = 1536, vocab = 49152, ctx = 8192;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *num = NULL;
        if (strcmp(a, "--bf16") == 0)
            bf16 = 1;
        else if (strcmp(a, "--untied") == 0)
            untied = 1;
        else if (strcmp(a, "--seed") == 0 && i + 1 < argc)
            mw_seed(strtoull(argv[++i], NULL, 0));
        else if (strcmp(a, "--layers") == 0)
            num = &layers;
        else if (strcmp(a, "--embd") == 0)
            num = &embd;
        else if (strcmp(a, "--heads") == 0)
            num = &heads;
        else if (strcmp(a, "--kv-heads") == 0)
            num = &kv_heads;
        else if (strcmp(a, "--ff") == 0)
            num = &ff;
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
    if (!dir || embd % heads != 0 || heads % kv_heads != 0)
        usage(argv[0]);
    const long hd = embd / heads;

    mw_model m = {.prog = "make_llama_model"};
    mw_add2(&m, "model.embed_tokens.weight", vocab, embd);
    for (long l = 0; l < layers; l++) {
        char nm[96];
#define NM(suffix) (snprintf(nm, sizeof nm, "model.layers.%ld.%s", l, suffix), nm)
        mw_add1(&m, NM("input_layernorm.weight"), embd, MW_ONE);
        mw_add2(&m, NM("self_attn.q_proj.weight"), heads * hd, embd);
        mw_add2(&m, NM("self_attn.k_proj.weight"), kv_heads * hd, embd);
        mw_add2(&m, NM("self_attn.v_proj.weight"), kv_heads * hd, embd);
        mw_add2(&m, NM("self_attn.o_proj.weight"), embd, heads * hd);
        mw_add1(&m, NM("post_attention_layernorm.weight"), embd, MW_ONE);
        mw_add2(&m, NM("mlp.gate_proj.weight"), ff, embd);
        mw_add2(&m, NM("mlp.up_proj.weight"), ff, embd);
        mw_add2(&m, NM("mlp.down_proj.weight"), embd, ff);
#undef NM
    }
    mw_add1(&m, "model.norm.weight", embd, MW_ONE);
    if (untied)
        mw_add2(&m, "lm_head.weight", vocab, embd);

    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\n"
             "  \"architectures\": [\"LlamaForCausalLM\"],\n"
             "  \"model_type\": \"llama\",\n"
             "  \"vocab_size\": %ld,\n"
             "  \"hidden_size\": %ld,\n"
             "  \"intermediate_size\": %ld,\n"
             "  \"num_hidden_layers\": %ld,\n"
             "  \"num_attention_heads\": %ld,\n"
             "  \"num_key_value_heads\": %ld,\n"
             "  \"max_position_embeddings\": %ld,\n"
             "  \"hidden_act\": \"silu\",\n"
             "  \"rms_norm_eps\": 1e-05,\n"
             "  \"rope_theta\": 100000.0,\n"
             "  \"rope_scaling\": null,\n"
             "  \"attention_bias\": false,\n"
             "  \"mlp_bias\": false,\n"
             "  \"initializer_range\": 0.02,\n"
             "  \"bos_token_id\": 0,\n"
             "  \"eos_token_id\": 0,\n"
             "  \"tie_word_embeddings\": %s,\n"
             "  \"torch_dtype\": \"%s\"\n"
             "}\n",
             vocab, embd, ff, layers, heads, kv_heads, ctx, untied ? "false" : "true",
             bf16 ? "bfloat16" : "float32");
    mw_write(&m, dir, bf16, cfg);
    free(m.t);
    return 0;
}
