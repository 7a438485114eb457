/*
 * ABI test 4: layout of every public struct, against fixed numbers for x86_64 (LP64, SysV).
 *
 * A reordered member, a member whose type changed, a member inserted anywhere but at the end, a
 * struct that grew: each changes a number below and fails here. Each row also pins the member's
 * exact type (through _Generic), so int32_t -> uint32_t, which keeps size and offset, fails too.
 *
 * The table is explicit on purpose: whoever adds or grows a public struct adds or extends its
 * rows here in the same change, growing structs only at the end (DESIGN.md section 4,
 * docs/abi.md). abi-rules (check_api_rules.py) fails while a struct or member declared in
 * include/textgen/ has no row here, or a row names something that no longer exists.
 *
 * Rows of headers that are not in the tree yet are compiled only when the header exists, so this
 * file builds whatever order headers land in.
 */
#include <criterion/criterion.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <textgen/common.h>
#include <textgen/model.h>
#include <textgen/session.h>

#if defined(__has_include)
#if __has_include(<textgen/tokenizer.h>)
#include <textgen/tokenizer.h>
#define HAVE_TOKENIZER_H 1
#endif
#if __has_include(<textgen/plugin.h>)
#include <textgen/plugin.h>
#define HAVE_PLUGIN_H 1
#endif
#if __has_include(<textgen/sampler.h>)
#include <textgen/sampler.h>
#define HAVE_SAMPLER_H 1
#endif
#if __has_include(<textgen/generate.h>)
#include <textgen/generate.h>
#define HAVE_GENERATE_H 1
#endif
#endif

/* The _init() functions are referenced weakly: one that a header declares but the library
 * does not export yet is reported by abi-symbols, and only skipped here. (Weak references alone
 * do not keep libtextgen in DT_NEEDED under --as-needed: options_init_equals_init_macro also makes
 * a strong call.) */
#pragma weak tg_model_options_init
#pragma weak tg_session_options_init
#if HAVE_TOKENIZER_H
#pragma weak tg_tokenizer_options_init
#endif
#if HAVE_SAMPLER_H
#pragma weak tg_chain_options_init
#endif
#if HAVE_GENERATE_H
#pragma weak tg_generate_options_init
#endif

struct struct_row {
    const char *name;
    size_t size, align;               /* expected */
    size_t actual_size, actual_align; /* compiled */
};

struct member_row {
    const char *strct, *member, *type;
    size_t offset, size;               /* expected */
    size_t actual_offset, actual_size; /* compiled */
    int type_matches;                  /* the member's type is exactly `type` */
};

#define STRUCT(T, size, align)                                                                     \
    {                                                                                              \
#T, (size), (align), sizeof(T), _Alignof(T)                                                \
    }

/* Member `m` of struct T has type MT at `offset`. */
#define MEMBER(T, m, MT, offset)                                                                   \
    {                                                                                              \
#T, #m, #MT, (offset), sizeof(MT), offsetof(T, m), sizeof(((T *)0)->m),                    \
            _Generic(((T *)0)->m, MT : 1, default : 0)                                             \
    }

/* Member `m` of struct T is an array of N elements of type ET at `offset`. */
#define MEMBER_ARRAY(T, m, ET, N, offset)                                                          \
    {                                                                                              \
#T, #m, #ET "[" #N "]", (offset), sizeof(ET) * (N), offsetof(T, m), sizeof(((T *)0)->m),   \
            _Generic(((T *)0)->m[0], ET : 1, default : 0) &&                                       \
                sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]) == (N)                                \
    }

/* ------------------------------------------------------------------------------------------ */
/* The table (x86_64). Rows of a struct in declaration order.                                 */
/* ------------------------------------------------------------------------------------------ */

static const struct struct_row structs[] = {
    /* model.h */
    STRUCT(tg_model_options, 12, 4),
    STRUCT(tg_model_info, 64, 8),
    /* session.h */
    STRUCT(tg_session_options, 20, 4),
    STRUCT(tg_batch_row, 16, 4),
    STRUCT(tg_session_info, 48, 8),
#if HAVE_TOKENIZER_H
    STRUCT(tg_tokenizer_options, 12, 4),
#endif
#if HAVE_PLUGIN_H
    STRUCT(tg_candidates, 64, 8),
    STRUCT(tg_param_spec, 48, 8),
    STRUCT(tg_param_value, 56, 8),
    STRUCT(tg_proc_context, 40, 8),
    STRUCT(tg_step_info, 48, 8),
    STRUCT(tg_beam_step, 64, 8),
    STRUCT(tg_beam_hypothesis, 32, 8),
    STRUCT(tg_beam_scorer, 32, 8),
    STRUCT(tg_processor_vtable, 160, 8),
    STRUCT(tg_plugin_desc, 88, 8),
#endif
#if HAVE_SAMPLER_H
    STRUCT(tg_processor_info, 32, 8),
    STRUCT(tg_chain_options, 40, 8),
    STRUCT(tg_trace_entry, 12, 4),
    STRUCT(tg_trace_stage, 80, 8),
#endif
#if HAVE_GENERATE_H
    STRUCT(tg_step_trace, 40, 8),
    STRUCT(tg_generate_options, 144, 8),
    STRUCT(tg_timing, 40, 8),
#endif
};

static const struct member_row members[] = {
    /* model.h */
    MEMBER(tg_model_options, struct_size, uint32_t, 0),
    MEMBER(tg_model_options, weight_type, uint32_t, 4),
    MEMBER(tg_model_options, kv_type, uint32_t, 8),

    MEMBER(tg_model_info, struct_size, uint32_t, 0),
    MEMBER(tg_model_info, n_vocab, int32_t, 4),
    MEMBER(tg_model_info, n_ctx, int32_t, 8),
    MEMBER(tg_model_info, n_layer, int32_t, 12),
    MEMBER(tg_model_info, n_head, int32_t, 16),
    MEMBER(tg_model_info, n_embd, int32_t, 20),
    MEMBER(tg_model_info, n_inner, int32_t, 24),
    MEMBER(tg_model_info, bos_id, int32_t, 28),
    MEMBER(tg_model_info, eos_id, int32_t, 32),
    MEMBER(tg_model_info, weight_type, uint32_t, 36),
    MEMBER(tg_model_info, n_params, uint64_t, 40),
    MEMBER(tg_model_info, weight_bytes, uint64_t, 48),
    MEMBER(tg_model_info, kv_type, uint32_t, 56),

    /* session.h */
    MEMBER(tg_session_options, struct_size, uint32_t, 0),
    MEMBER(tg_session_options, n_seq, uint32_t, 4),
    MEMBER(tg_session_options, n_ctx, uint32_t, 8),
    MEMBER(tg_session_options, n_threads, int32_t, 12),
    MEMBER(tg_session_options, n_batch, uint32_t, 16),

    MEMBER(tg_batch_row, token, int32_t, 0),
    MEMBER(tg_batch_row, pos, int32_t, 4),
    MEMBER(tg_batch_row, seq, int32_t, 8),
    MEMBER(tg_batch_row, logits, int32_t, 12),

    MEMBER(tg_session_info, struct_size, uint32_t, 0),
    MEMBER(tg_session_info, n_seq, uint32_t, 4),
    MEMBER(tg_session_info, n_ctx, uint32_t, 8),
    MEMBER(tg_session_info, n_batch, uint32_t, 12),
    MEMBER(tg_session_info, n_threads, int32_t, 16),
    MEMBER(tg_session_info, kv_block_positions, uint32_t, 20),
    MEMBER(tg_session_info, kv_block_bytes, uint64_t, 24),
    MEMBER(tg_session_info, kv_bytes_in_use, uint64_t, 32),
    MEMBER(tg_session_info, kv_bytes_allocated, uint64_t, 40),

#if HAVE_TOKENIZER_H
    /* tokenizer.h */
    MEMBER(tg_tokenizer_options, struct_size, uint32_t, 0),
    MEMBER(tg_tokenizer_options, bos_id, int32_t, 4),
    MEMBER(tg_tokenizer_options, eos_id, int32_t, 8),
#endif

#if HAVE_PLUGIN_H
    /* plugin.h */
    MEMBER(tg_candidates, struct_size, uint32_t, 0),
    MEMBER(tg_candidates, n_vocab, int32_t, 4),
    MEMBER(tg_candidates, ids, int32_t *, 8),
    MEMBER(tg_candidates, logits, float *, 16),
    MEMBER(tg_candidates, probs, float *, 24),
    MEMBER(tg_candidates, size, size_t, 32),
    MEMBER(tg_candidates, capacity, size_t, 40),
    MEMBER(tg_candidates, sorted, size_t, 48),
    MEMBER(tg_candidates, probs_valid, int32_t, 56),
    MEMBER(tg_candidates, selected, int32_t, 60),

    MEMBER(tg_param_spec, name, const char *, 0),
    MEMBER(tg_param_spec, type, uint32_t, 8),
    MEMBER(tg_param_spec, default_value, const char *, 16),
    MEMBER(tg_param_spec, min, double, 24),
    MEMBER(tg_param_spec, max, double, 32),
    MEMBER(tg_param_spec, doc, const char *, 40),

    MEMBER(tg_param_value, number, double, 0),
    MEMBER(tg_param_value, integer, int64_t, 8),
    MEMBER(tg_param_value, string, const char *, 16),
    MEMBER(tg_param_value, ids, const int32_t *, 24),
    MEMBER(tg_param_value, n_ids, size_t, 32),
    MEMBER(tg_param_value, seq_ends, const size_t *, 40),
    MEMBER(tg_param_value, n_seqs, size_t, 48),

    MEMBER(tg_proc_context, struct_size, uint32_t, 0),
    MEMBER(tg_proc_context, n_vocab, int32_t, 4),
    MEMBER(tg_proc_context, eos_ids, const int32_t *, 8),
    MEMBER(tg_proc_context, n_eos, size_t, 16),
    MEMBER(tg_proc_context, tokenizer, const struct tg_tokenizer *, 24),
    MEMBER(tg_proc_context, user_data, void *, 32),

    MEMBER(tg_step_info, struct_size, uint32_t, 0),
    MEMBER(tg_step_info, seed, uint64_t, 8),
    MEMBER(tg_step_info, sequence, int32_t, 16),
    MEMBER(tg_step_info, step, int32_t, 20),
    MEMBER(tg_step_info, tokens, const int32_t *, 24),
    MEMBER(tg_step_info, n_tokens, size_t, 32),
    MEMBER(tg_step_info, n_prompt, size_t, 40),

    MEMBER(tg_beam_step, struct_size, uint32_t, 0),
    MEMBER(tg_beam_step, step, int32_t, 4),
    MEMBER(tg_beam_step, group, int32_t, 8),
    MEMBER(tg_beam_step, n_groups, int32_t, 12),
    MEMBER(tg_beam_step, n_beams, int32_t, 16),
    MEMBER(tg_beam_step, n_vocab, int32_t, 20),
    MEMBER(tg_beam_step, scores, float *, 24),
    MEMBER(tg_beam_step, running, const double *, 32),
    MEMBER(tg_beam_step, tokens, const int32_t *const *, 40),
    MEMBER(tg_beam_step, chosen, const int32_t *, 48),
    MEMBER(tg_beam_step, n_chosen, size_t, 56),

    MEMBER(tg_beam_hypothesis, struct_size, uint32_t, 0),
    MEMBER(tg_beam_hypothesis, length, int32_t, 4),
    MEMBER(tg_beam_hypothesis, sum, double, 8),
    MEMBER(tg_beam_hypothesis, max_length, int32_t, 16),
    MEMBER(tg_beam_hypothesis, group, int32_t, 20),
    MEMBER(tg_beam_hypothesis, tokens, const int32_t *, 24),

    MEMBER(tg_beam_scorer, struct_size, uint32_t, 0),
    MEMBER(tg_beam_scorer, groups, tg_status (*)(void *, int32_t, int32_t *), 8),
    MEMBER(tg_beam_scorer, adjust, tg_status (*)(void *, tg_beam_step *), 16),
    MEMBER(tg_beam_scorer, score, tg_status (*)(void *, const tg_beam_hypothesis *, double *), 24),

    MEMBER(tg_processor_vtable, struct_size, uint32_t, 0),
    MEMBER(tg_processor_vtable, name, const char *, 8),
    MEMBER(tg_processor_vtable, kind, uint32_t, 16),
    MEMBER(tg_processor_vtable, doc, const char *, 24),
    MEMBER(tg_processor_vtable, params, const tg_param_spec *, 32),
    MEMBER(tg_processor_vtable, n_params, size_t, 40),
    MEMBER(tg_processor_vtable, create,
           tg_status (*)(void **, const tg_param_value *, const tg_proc_context *), 48),
    MEMBER(tg_processor_vtable, apply, tg_status (*)(void *, tg_candidates *, const tg_step_info *),
           56),
    MEMBER(tg_processor_vtable, accept, tg_status (*)(void *, int32_t, const tg_step_info *), 64),
    MEMBER(tg_processor_vtable, reset, void (*)(void *), 72),
    MEMBER(tg_processor_vtable, clone, tg_status (*)(void **, const void *), 80),
    MEMBER(tg_processor_vtable, destroy, void (*)(void *), 88),
    MEMBER(tg_processor_vtable, save, tg_status (*)(const void *, void *, size_t *), 96),
    MEMBER(tg_processor_vtable, load, tg_status (*)(void *, const void *, size_t), 104),
    MEMBER(tg_processor_vtable, check_stop, tg_status (*)(void *, const tg_step_info *, int32_t *),
           112),
    MEMBER_ARRAY(tg_processor_vtable, reserved, void *, 4, 120),
    MEMBER(tg_processor_vtable, scorer, const tg_beam_scorer *, 152),

    MEMBER(tg_plugin_desc, abi_version, uint32_t, 0),
    MEMBER(tg_plugin_desc, struct_size, uint32_t, 4),
    MEMBER(tg_plugin_desc, name, const char *, 8),
    MEMBER(tg_plugin_desc, version, const char *, 16),
    MEMBER(tg_plugin_desc, license, const char *, 24),
    MEMBER(tg_plugin_desc, description, const char *, 32),
    MEMBER(tg_plugin_desc, processors, const tg_processor_vtable *const *, 40),
    MEMBER(tg_plugin_desc, n_processors, size_t, 48),
    MEMBER_ARRAY(tg_plugin_desc, reserved, void *, 4, 56),
#endif

#if HAVE_SAMPLER_H
    /* sampler.h */
    MEMBER(tg_processor_info, struct_size, uint32_t, 0),
    MEMBER(tg_processor_info, vtable, const tg_processor_vtable *, 8),
    MEMBER(tg_processor_info, plugin, const tg_plugin_desc *, 16),
    MEMBER(tg_processor_info, path, const char *, 24),

    MEMBER(tg_chain_options, struct_size, uint32_t, 0),
    MEMBER(tg_chain_options, n_vocab, int32_t, 4),
    MEMBER(tg_chain_options, model, const tg_model *, 8),
    MEMBER(tg_chain_options, eos_ids, const int32_t *, 16),
    MEMBER(tg_chain_options, n_eos, size_t, 24),
    MEMBER(tg_chain_options, seed, uint64_t, 32),

    MEMBER(tg_trace_entry, id, int32_t, 0),
    MEMBER(tg_trace_entry, logit, float, 4),
    MEMBER(tg_trace_entry, prob, float, 8),

    MEMBER(tg_trace_stage, struct_size, uint32_t, 0),
    MEMBER(tg_trace_stage, name, const char *, 8),
    MEMBER(tg_trace_stage, kind, uint32_t, 16),
    MEMBER(tg_trace_stage, size_before, size_t, 24),
    MEMBER(tg_trace_stage, size_after, size_t, 32),
    MEMBER(tg_trace_stage, before, const tg_trace_entry *, 40),
    MEMBER(tg_trace_stage, n_before, size_t, 48),
    MEMBER(tg_trace_stage, after, const tg_trace_entry *, 56),
    MEMBER(tg_trace_stage, n_after, size_t, 64),
    MEMBER(tg_trace_stage, time_ns, uint64_t, 72),
#endif

#if HAVE_GENERATE_H
    /* generate.h */
    MEMBER(tg_generate_options, struct_size, uint32_t, 0),
    MEMBER(tg_generate_options, samplers, const char *, 8),
    MEMBER(tg_generate_options, max_new_tokens, int32_t, 16),
    MEMBER(tg_generate_options, stop_strings, const char *const *, 24),
    MEMBER(tg_generate_options, n_stop_strings, size_t, 32),
    MEMBER(tg_generate_options, stop_tokens, const int32_t *, 40),
    MEMBER(tg_generate_options, n_stop_tokens, size_t, 48),
    MEMBER(tg_generate_options, max_time_s, double, 56),
    MEMBER(tg_generate_options, seed, uint64_t, 64),
    MEMBER(tg_generate_options, n_threads, int32_t, 72),
    MEMBER(tg_generate_options, flags, uint32_t, 76),
    MEMBER(tg_generate_options, on_text, tg_stream_fn, 80),
    MEMBER(tg_generate_options, user_data, void *, 88),
    MEMBER(tg_generate_options, num_beams, int32_t, 96),
    MEMBER(tg_generate_options, num_return_sequences, int32_t, 100),
    MEMBER(tg_generate_options, early_stopping, int32_t, 104),
    MEMBER(tg_generate_options, trace_top_n, uint32_t, 108),
    MEMBER(tg_generate_options, beam_scorers, const char *, 112),
    MEMBER(tg_generate_options, on_trace, tg_step_trace_fn, 120),
    MEMBER(tg_generate_options, trace_user_data, void *, 128),
    MEMBER(tg_generate_options, trace_steps, int32_t, 136),

    MEMBER(tg_step_trace, struct_size, uint32_t, 0),
    MEMBER(tg_step_trace, step, int32_t, 4),
    MEMBER(tg_step_trace, token, int32_t, 8),
    MEMBER(tg_step_trace, logprob, float, 12),
    MEMBER(tg_step_trace, samplers, const char *, 16),
    MEMBER(tg_step_trace, stages, const tg_trace_stage *, 24),
    MEMBER(tg_step_trace, n_stages, size_t, 32),

    MEMBER(tg_timing, struct_size, uint32_t, 0),
    MEMBER(tg_timing, prompt_s, double, 8),
    MEMBER(tg_timing, generate_s, double, 16),
    MEMBER(tg_timing, sample_s, double, 24),
    MEMBER(tg_timing, n_prompt, int32_t, 32),
    MEMBER(tg_timing, n_generated, int32_t, 36),
#endif
};

/* Structs with an _INIT macro: `uint32_t struct_size` first, and the macro sets it to sizeof. */
struct versioned_row {
    const char *name;
    size_t size;
    size_t struct_size_offset;
    int struct_size_is_u32;
    uint32_t init_struct_size; /* struct_size as set by the _INIT macro */
};

#define VERSIONED(T, INIT)                                                                         \
    {                                                                                              \
#T, sizeof(T), offsetof(T, struct_size),                                                   \
            _Generic(((T *)0)->struct_size, uint32_t : 1, default : 0), ((T)INIT).struct_size      \
    }

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))

#if !defined(__x86_64__) || !defined(__LP64__)
#define SKIP_UNLESS_X86_64() cr_skip_test("the layout table describes x86_64")
#else
#define SKIP_UNLESS_X86_64() ((void)0)
#endif

Test(abi_layout, struct_sizes)
{
    SKIP_UNLESS_X86_64();
    for (size_t i = 0; i < N_ROWS(structs); i++) {
        const struct struct_row *r = &structs[i];
        cr_expect_eq(r->actual_size, r->size, "sizeof(%s) is %zu, the table says %zu", r->name,
                     r->actual_size, r->size);
        cr_expect_eq(r->actual_align, r->align, "_Alignof(%s) is %zu, the table says %zu", r->name,
                     r->actual_align, r->align);
    }
}

Test(abi_layout, member_offsets_and_types)
{
    SKIP_UNLESS_X86_64();
    for (size_t i = 0; i < N_ROWS(members); i++) {
        const struct member_row *r = &members[i];
        cr_expect_eq(r->actual_offset, r->offset, "offsetof(%s, %s) is %zu, the table says %zu",
                     r->strct, r->member, r->actual_offset, r->offset);
        cr_expect_eq(r->actual_size, r->size, "sizeof %s.%s is %zu, the table says %zu (%s)",
                     r->strct, r->member, r->actual_size, r->size, r->type);
        cr_expect(r->type_matches, "%s.%s is not of type %s", r->strct, r->member, r->type);
    }
}

/* The listed members of each struct reach its end: no member is missing from the table. */
Test(abi_layout, members_cover_each_struct)
{
    SKIP_UNLESS_X86_64();
    for (size_t s = 0; s < N_ROWS(structs); s++) {
        size_t end = 0, count = 0;
        for (size_t i = 0; i < N_ROWS(members); i++) {
            if (strcmp(members[i].strct, structs[s].name) != 0)
                continue;
            count++;
            if (members[i].actual_offset + members[i].actual_size > end)
                end = members[i].actual_offset + members[i].actual_size;
        }
        cr_expect_gt(count, 0, "struct %s has no MEMBER rows", structs[s].name);
        size_t align = structs[s].actual_align;
        size_t padded = (end + align - 1) / align * align;
        cr_expect_eq(padded, structs[s].actual_size,
                     "the listed members of %s end at %zu (%zu with tail padding) but sizeof is "
                     "%zu: a member is missing from the table",
                     structs[s].name, end, padded, structs[s].actual_size);
    }
}

Test(abi_layout, versioned_structs_begin_with_struct_size)
{
    /* Not static: a compound literal's member is not a constant expression. */
    const struct versioned_row versioned[] = {
        VERSIONED(tg_model_options, TG_MODEL_OPTIONS_INIT),
        VERSIONED(tg_model_info, TG_MODEL_INFO_INIT),
        VERSIONED(tg_session_options, TG_SESSION_OPTIONS_INIT),
        VERSIONED(tg_session_info, TG_SESSION_INFO_INIT),
#if HAVE_TOKENIZER_H
        VERSIONED(tg_tokenizer_options, TG_TOKENIZER_OPTIONS_INIT),
#endif
#if HAVE_SAMPLER_H
        VERSIONED(tg_processor_info, TG_PROCESSOR_INFO_INIT),
        VERSIONED(tg_chain_options, TG_CHAIN_OPTIONS_INIT),
#endif
#if HAVE_GENERATE_H
        VERSIONED(tg_generate_options, TG_GENERATE_OPTIONS_INIT),
        VERSIONED(tg_timing, TG_TIMING_INIT),
#endif
    };
    for (size_t i = 0; i < N_ROWS(versioned); i++) {
        const struct versioned_row *r = &versioned[i];
        cr_expect_eq(r->struct_size_offset, 0, "%s.struct_size is at offset %zu, not 0", r->name,
                     r->struct_size_offset);
        cr_expect(r->struct_size_is_u32, "%s.struct_size is not a uint32_t", r->name);
        cr_expect_eq(r->init_struct_size, r->size,
                     "the _INIT macro of %s sets struct_size to %u, sizeof is %zu", r->name,
                     (unsigned)r->init_struct_size, r->size);
    }
}

/* Compare two instances of struct `name` member by member (padding bytes are not compared). */
static void expect_same_members(const char *name, const void *got, const void *want,
                                const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ROWS(members); i++) {
        const struct member_row *r = &members[i];
        if (strcmp(r->strct, name) != 0)
            continue;
        n++;
        cr_expect_eq(memcmp((const char *)got + r->actual_offset,
                            (const char *)want + r->actual_offset, r->actual_size),
                     0, "%s: member %s differs", what, r->member);
    }
    cr_expect_gt(n, 0, "struct %s has no MEMBER rows", name);
}

/* tg_x_options_init(opts, sizeof *opts) fills exactly what TG_X_OPTIONS_INIT gives (the headers
 * promise it), every member included: the output starts as garbage. */
#define CHECK_DEFAULT_EQUALS_INIT(T, INIT, fn)                                                     \
    do {                                                                                           \
        const T init = INIT;                                                                       \
        T got;                                                                                     \
        memset(&got, 0xA5, sizeof got);                                                            \
        if (!fn) {                                                                                 \
            cr_log_info(#fn "() is not exported by the library yet (see abi-symbols)");            \
            break;                                                                                 \
        }                                                                                          \
        cr_expect_eq(fn(&got, (uint32_t)sizeof got), TG_OK, #fn "() failed");                      \
        expect_same_members(#T, &got, &init, #fn "() vs " #INIT);                                  \
    } while (0)

Test(abi_layout, options_init_equals_init_macro)
{
    tg_error_clear(); /* strong reference: links libtextgen (see the #pragma weak above) */
    CHECK_DEFAULT_EQUALS_INIT(tg_model_options, TG_MODEL_OPTIONS_INIT, tg_model_options_init);
    CHECK_DEFAULT_EQUALS_INIT(tg_session_options, TG_SESSION_OPTIONS_INIT, tg_session_options_init);
#if HAVE_TOKENIZER_H
    CHECK_DEFAULT_EQUALS_INIT(tg_tokenizer_options, TG_TOKENIZER_OPTIONS_INIT,
                              tg_tokenizer_options_init);
#endif
#if HAVE_SAMPLER_H
    CHECK_DEFAULT_EQUALS_INIT(tg_chain_options, TG_CHAIN_OPTIONS_INIT, tg_chain_options_init);
#endif
#if HAVE_GENERATE_H
    CHECK_DEFAULT_EQUALS_INIT(tg_generate_options, TG_GENERATE_OPTIONS_INIT,
                              tg_generate_options_init);
#endif
}
