/* core/versioned.h — internal: the one rule for every struct that crosses the ABI with a leading
 * `uint32_t struct_size` (docs/abi.md, "Structs that grow").
 *
 * - Each struct's first released layout is frozen: its size is the struct's minimum forever
 *   (the *_V1_SIZE list below). Structs grow only at the end.
 * - Read (caller -> library, option structs): a caller's struct at least the minimum is served;
 *   fields past its struct_size take their defaults. A caller's struct larger than the library's
 *   (built against newer headers) is accepted when the bytes the library does not know are all
 *   zero (a newer field left at its default), refused with TG_EUNSUPPORTED otherwise.
 * - Write (library -> caller, info structs): the library writes min(caller's, its own) bytes,
 *   zeroes the caller's bytes it does not know, and sets struct_size to what it filled.
 * - Init (tg_x_options_init(opts, struct_size)): defaults for the caller's size, never a byte
 *   past it. */
#ifndef TG_CORE_VERSIONED_H
#define TG_CORE_VERSIONED_H

#include <stddef.h>
#include <textgen/generate.h>
#include <textgen/model.h>
#include <textgen/sampler.h>
#include <textgen/session.h>
#include <textgen/tokenizer.h>

/* Size of a layout that ends with member `last`. */
#define TG__LAYOUT_SIZE(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* The first released layouts (0.1): frozen forever; these are the minimum struct_size values. */
#define TG_MODEL_OPTIONS_V1_SIZE TG__LAYOUT_SIZE(tg_model_options, weight_type)
#define TG_MODEL_INFO_V1_SIZE TG__LAYOUT_SIZE(tg_model_info, weight_type)
#define TG_SESSION_OPTIONS_V1_SIZE TG__LAYOUT_SIZE(tg_session_options, n_batch)
#define TG_SESSION_INFO_V1_SIZE TG__LAYOUT_SIZE(tg_session_info, kv_bytes_allocated)
#define TG_GENERATE_OPTIONS_V1_SIZE TG__LAYOUT_SIZE(tg_generate_options, user_data)
#define TG_TIMING_V1_SIZE TG__LAYOUT_SIZE(tg_timing, n_generated)
#define TG_CHAIN_OPTIONS_V1_SIZE TG__LAYOUT_SIZE(tg_chain_options, seed)
#define TG_PROCESSOR_INFO_V1_SIZE TG__LAYOUT_SIZE(tg_processor_info, path)
#define TG_TOKENIZER_OPTIONS_V1_SIZE TG__LAYOUT_SIZE(tg_tokenizer_options, eos_id)

/* Read a caller's struct `src` (its struct_size first) into `dst`, the library's layout of
 * `dst_size` bytes, which holds the defaults on entry. `what` names the struct in errors. */
tg_status tg__struct_read(void *dst, size_t dst_size, const void *src, size_t min_size,
                          const char *what);

/* Write the library's `src` (`src_size` bytes) into a caller's struct `dst` whose struct_size
 * the caller set. */
tg_status tg__struct_write(void *dst, const void *src, size_t src_size, size_t min_size,
                           const char *what);

/* Fill a caller's struct of `struct_size` bytes from the library's `defaults` (`lib_size`
 * bytes): the shared body of every tg_x_options_init(). */
tg_status tg__struct_init(void *dst, uint32_t struct_size, const void *defaults, size_t lib_size,
                          size_t min_size, const char *what);

#endif
