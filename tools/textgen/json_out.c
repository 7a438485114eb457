/* tools/textgen/json_out.c — --json (the whole result as one object: the best sequence's text,
 * tokens and log-probabilities, and with "sequences" every sequence returned, best first) and
 * --tokenize (an array of ids), written with json-glib. */
#include "cli.h"

#include <json-glib/json-glib.h>
#include <math.h>

static void print_node(JsonNode *root)
{
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, root);
    gsize len;
    char *text = json_generator_to_data(gen, &len);
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    g_free(text);
    g_object_unref(gen);
}

static void add_ids(JsonBuilder *b, const int32_t *ids, size_t n)
{
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++)
        json_builder_add_int_value(b, ids[i]);
    json_builder_end_array(b);
}

void cli_print_ids_json(const int32_t *ids, size_t n)
{
    JsonBuilder *b = json_builder_new();
    add_ids(b, ids, n);
    JsonNode *root = json_builder_get_root(b);
    print_node(root);
    json_node_unref(root);
    g_object_unref(b);
}

static void add_double(JsonBuilder *b, const char *key, double v)
{
    json_builder_set_member_name(b, key);
    if (isfinite(v))
        json_builder_add_double_value(b, v);
    else
        json_builder_add_null_value(b);
}

/* Every sequence of the result, best first: text, tokens, score, stop_reason. */
static void add_sequences(JsonBuilder *b, const tg_result *r)
{
    json_builder_begin_array(b);
    for (size_t i = 0; i < tg_result_n_sequences(r); i++) {
        size_t n;
        const int32_t *ids = tg_result_sequence_tokens(r, i, &n);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "text");
        json_builder_add_string_value(b, tg_result_sequence_text(r, i, NULL));
        json_builder_set_member_name(b, "tokens");
        add_ids(b, ids, n);
        add_double(b, "score", tg_result_sequence_score(r, i));
        json_builder_set_member_name(b, "stop_reason");
        json_builder_add_string_value(b, tg_stop_reason_str(tg_result_sequence_stop_reason(r, i)));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

int cli_print_json(const cli_run *run)
{
    const tg_result *r = run->result;
    size_t n_prompt, n_tokens, n_lp, text_len;
    const int32_t *prompt_ids = tg_result_prompt_tokens(r, &n_prompt);
    const int32_t *ids = tg_result_tokens(r, &n_tokens);
    const float *lps = tg_result_logprobs(r, &n_lp);
    const char *text = tg_result_text(r, &text_len);
    tg_timing t = TG_TIMING_INIT;
    tg_result_timing(&t, r);

    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "model");
    json_builder_add_string_value(b, tg_model_path(run->model));
    json_builder_set_member_name(b, "prompt");
    json_builder_add_string_value(b, run->prompt);
    json_builder_set_member_name(b, "prompt_tokens");
    add_ids(b, prompt_ids, n_prompt);
    json_builder_set_member_name(b, "text");
    json_builder_add_string_value(b, text);
    json_builder_set_member_name(b, "tokens");
    add_ids(b, ids, n_tokens);
    json_builder_set_member_name(b, "logprobs");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n_lp; i++) {
        if (isfinite(lps[i]))
            json_builder_add_double_value(b, lps[i]);
        else
            json_builder_add_null_value(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "stop_reason");
    json_builder_add_string_value(b, tg_stop_reason_str(tg_result_stop_reason(r)));
    json_builder_set_member_name(b, "sequences");
    add_sequences(b, r);
    json_builder_set_member_name(b, "num_beams");
    json_builder_add_int_value(b, tg_result_num_beams(r)); /* --beams, else the model's */
    json_builder_set_member_name(b, "samplers");
    if (run->spec)
        json_builder_add_string_value(b, run->spec);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "seed");
    json_builder_add_int_value(b, (gint64)run->opts->seed);

    json_builder_set_member_name(b, "timing");
    json_builder_begin_object(b);
    add_double(b, "load_s", run->load_s);
    add_double(b, "prompt_s", t.prompt_s);
    add_double(b, "generate_s", t.generate_s);
    add_double(b, "sample_s", t.sample_s);
    add_double(b, "prompt_tokens_per_s", t.prompt_s > 0 ? t.n_prompt / t.prompt_s : NAN);
    add_double(b, "tokens_per_s", t.generate_s > 0 ? t.n_generated / t.generate_s : NAN);
    json_builder_set_member_name(b, "n_prompt");
    json_builder_add_int_value(b, t.n_prompt);
    json_builder_set_member_name(b, "n_generated");
    json_builder_add_int_value(b, t.n_generated);
    json_builder_end_object(b);

    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    print_node(root);
    json_node_unref(root);
    g_object_unref(b);
    return CLI_EXIT_OK;
}
