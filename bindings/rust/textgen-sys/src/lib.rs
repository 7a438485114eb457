//! Raw declarations of libtextgen's C API (`<textgen/textgen.h>`), written by hand: no bindgen,
//! no registry crates. Structs mirror the public headers member for member; option structs are
//! filled by the library's `tg_x_options_init(&mut s, size_of::<S>())` (docs/abi.md), so a
//! member this crate does not set keeps the library's default. See the `textgen` crate for the
//! safe API.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_double, c_void};

pub type tg_status = i32;

pub const TG_OK: tg_status = 0;
pub const TG_ERROR: tg_status = -1;
pub const TG_EINVAL: tg_status = -2;
pub const TG_ENOMEM: tg_status = -3;
pub const TG_EIO: tg_status = -4;
pub const TG_EFORMAT: tg_status = -5;
pub const TG_EUNSUPPORTED: tg_status = -6;
pub const TG_ENOTFOUND: tg_status = -7;
pub const TG_ERANGE: tg_status = -8;
pub const TG_EBACKEND: tg_status = -9;
pub const TG_ESTATE: tg_status = -10;
pub const TG_EPLUGIN: tg_status = -11;
pub const TG_EEXISTS: tg_status = -12;
pub const TG_ECANCELLED: tg_status = -13;
pub const TG_EUSER: tg_status = -14;
pub const TG_ESPEC: tg_status = -15;

pub const TG_GEN_IGNORE_EOS: u32 = 1;
pub const TG_GEN_ALLOW_SPECIAL: u32 = 2;
pub const TG_GEN_NO_CONFIG: u32 = 4;

pub const TG_EARLY_STOP_DEFAULT: i32 = 0;
pub const TG_EARLY_STOP_FALSE: i32 = 1;
pub const TG_EARLY_STOP_TRUE: i32 = 2;
pub const TG_EARLY_STOP_NEVER: i32 = 3;

pub const TG_PARAM_FLOAT: u32 = 1;
pub const TG_PARAM_INT: u32 = 2;
pub const TG_PARAM_BOOL: u32 = 3;
pub const TG_PARAM_STRING: u32 = 4;
pub const TG_PARAM_IDS: u32 = 5;

pub const TG_PROC_TRANSFORM: u32 = 1;
pub const TG_PROC_FILTER: u32 = 2;
pub const TG_PROC_SELECTOR: u32 = 3;

pub const TG_PLUGIN_ABI_VERSION: u32 = 1;

#[repr(C)]
pub struct tg_model {
    _private: [u8; 0],
}
#[repr(C)]
pub struct tg_tokenizer {
    _private: [u8; 0],
}
#[repr(C)]
pub struct tg_chain {
    _private: [u8; 0],
}
#[repr(C)]
pub struct tg_result {
    _private: [u8; 0],
}
#[repr(C)]
pub struct tg_generator {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct tg_model_options {
    pub struct_size: u32,
    pub weight_type: u32,
    pub kv_type: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct tg_model_info {
    pub struct_size: u32,
    pub n_vocab: i32,
    pub n_ctx: i32,
    pub n_layer: i32,
    pub n_head: i32,
    pub n_embd: i32,
    pub n_inner: i32,
    pub bos_id: i32,
    pub eos_id: i32,
    pub weight_type: u32,
    pub n_params: u64,
    pub weight_bytes: u64,
    pub kv_type: u32,
}

pub type tg_stream_fn = Option<
    unsafe extern "C" fn(
        text: *const c_char,
        len: usize,
        ids: *const i32,
        n_ids: usize,
        user_data: *mut c_void,
    ) -> i32,
>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct tg_generate_options {
    pub struct_size: u32,
    pub samplers: *const c_char,
    pub max_new_tokens: i32,
    pub stop_strings: *const *const c_char,
    pub n_stop_strings: usize,
    pub stop_tokens: *const i32,
    pub n_stop_tokens: usize,
    pub max_time_s: c_double,
    pub seed: u64,
    pub n_threads: i32,
    pub flags: u32,
    pub on_text: tg_stream_fn,
    pub user_data: *mut c_void,
    pub num_beams: i32,
    pub num_return_sequences: i32,
    pub early_stopping: i32,
    pub trace_top_n: u32,
    pub beam_scorers: *const c_char,
    /// `tg_step_trace_fn`; the step trace itself is not mirrored here.
    pub on_trace: Option<unsafe extern "C" fn(trace: *const c_void, user_data: *mut c_void)>,
    pub trace_user_data: *mut c_void,
    pub trace_steps: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct tg_timing {
    pub struct_size: u32,
    pub prompt_s: c_double,
    pub generate_s: c_double,
    pub sample_s: c_double,
    pub n_prompt: i32,
    pub n_generated: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct tg_chain_options {
    pub struct_size: u32,
    pub n_vocab: i32,
    pub model: *const tg_model,
    pub eos_ids: *const i32,
    pub n_eos: usize,
    pub seed: u64,
}

#[repr(C)]
pub struct tg_candidates {
    pub struct_size: u32,
    pub n_vocab: i32,
    pub ids: *mut i32,
    pub logits: *mut f32,
    pub probs: *mut f32,
    pub size: usize,
    pub capacity: usize,
    pub sorted: usize,
    pub probs_valid: i32,
    pub selected: i32,
}

#[repr(C)]
pub struct tg_step_info {
    pub struct_size: u32,
    pub seed: u64,
    pub sequence: i32,
    pub step: i32,
    pub tokens: *const i32,
    pub n_tokens: usize,
    pub n_prompt: usize,
}

#[repr(C)]
pub struct tg_proc_context {
    pub struct_size: u32,
    pub n_vocab: i32,
    pub eos_ids: *const i32,
    pub n_eos: usize,
    pub tokenizer: *const tg_tokenizer,
    pub user_data: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct tg_param_spec {
    pub name: *const c_char,
    pub type_: u32,
    pub default_value: *const c_char,
    pub min: c_double,
    pub max: c_double,
    pub doc: *const c_char,
}

#[repr(C)]
pub struct tg_param_value {
    pub number: c_double,
    pub integer: i64,
    pub string: *const c_char,
    pub ids: *const i32,
    pub n_ids: usize,
    pub seq_ends: *const usize,
    pub n_seqs: usize,
}

pub type tg_create_fn = Option<
    unsafe extern "C" fn(
        *mut *mut c_void,
        *const tg_param_value,
        *const tg_proc_context,
    ) -> tg_status,
>;
pub type tg_apply_fn =
    Option<unsafe extern "C" fn(*mut c_void, *mut tg_candidates, *const tg_step_info) -> tg_status>;
pub type tg_accept_fn =
    Option<unsafe extern "C" fn(*mut c_void, i32, *const tg_step_info) -> tg_status>;
pub type tg_reset_fn = Option<unsafe extern "C" fn(*mut c_void)>;
pub type tg_clone_fn = Option<unsafe extern "C" fn(*mut *mut c_void, *const c_void) -> tg_status>;
pub type tg_destroy_fn = Option<unsafe extern "C" fn(*mut c_void)>;
pub type tg_candidate_pred =
    Option<unsafe extern "C" fn(*const tg_candidates, usize, *mut c_void) -> i32>;

#[repr(C)]
pub struct tg_processor_vtable {
    pub struct_size: u32,
    pub name: *const c_char,
    pub kind: u32,
    pub doc: *const c_char,
    pub params: *const tg_param_spec,
    pub n_params: usize,
    pub create: tg_create_fn,
    pub apply: tg_apply_fn,
    pub accept: tg_accept_fn,
    pub reset: tg_reset_fn,
    pub clone: tg_clone_fn,
    pub destroy: tg_destroy_fn,
    pub save: *const c_void,
    pub load: *const c_void,
    pub check_stop: *const c_void,
    pub reserved: [*mut c_void; 4],
    /// `const tg_beam_scorer *` (TG_PROC_BEAM_SCORER only; not mirrored here).
    pub scorer: *const c_void,
}

#[repr(C)]
pub struct tg_plugin_desc {
    pub abi_version: u32,
    pub struct_size: u32,
    pub name: *const c_char,
    pub version: *const c_char,
    pub license: *const c_char,
    pub description: *const c_char,
    pub processors: *const *const tg_processor_vtable,
    pub n_processors: usize,
    pub reserved: [*mut c_void; 4],
}

extern "C" {
    pub fn tg_error_last() -> *const c_char;
    pub fn tg_error_last_status() -> tg_status;
    pub fn tg_status_str(status: tg_status) -> *const c_char;
    pub fn tg_free(ptr: *mut c_void);
    pub fn tg_version_string() -> *const c_char;
    pub fn tg_plugins_dir(dir_out: *mut *const c_char) -> tg_status;
    pub fn tg_default_model_dir(dir_out: *mut *const c_char) -> tg_status;

    pub fn tg_model_options_init(opts: *mut tg_model_options, struct_size: u32) -> tg_status;
    pub fn tg_model_load(
        out: *mut *mut tg_model,
        dir: *const c_char,
        opts: *const tg_model_options,
    ) -> tg_status;
    pub fn tg_model_load_default(
        out: *mut *mut tg_model,
        opts: *const tg_model_options,
    ) -> tg_status;
    pub fn tg_model_free(model: *mut tg_model);
    pub fn tg_model_get_info(out: *mut tg_model_info, model: *const tg_model) -> tg_status;
    pub fn tg_model_tokenizer(model: *const tg_model) -> *const tg_tokenizer;
    pub fn tg_model_path(model: *const tg_model) -> *const c_char;

    pub fn tg_tokenizer_n_vocab(tok: *const tg_tokenizer) -> i32;
    pub fn tg_tokenizer_encode(
        ids_out: *mut *mut i32,
        n_out: *mut usize,
        tok: *const tg_tokenizer,
        text: *const c_char,
        len: usize,
        flags: u32,
    ) -> tg_status;
    pub fn tg_tokenizer_decode(
        text_out: *mut *mut c_char,
        len_out: *mut usize,
        tok: *const tg_tokenizer,
        ids: *const i32,
        n: usize,
        flags: u32,
    ) -> tg_status;

    pub fn tg_generate_options_init(opts: *mut tg_generate_options, struct_size: u32) -> tg_status;
    pub fn tg_generate(
        out: *mut *mut tg_result,
        model: *const tg_model,
        prompt: *const c_char,
        opts: *const tg_generate_options,
    ) -> tg_status;
    pub fn tg_result_text(result: *const tg_result, len_out: *mut usize) -> *const c_char;
    pub fn tg_result_tokens(result: *const tg_result, n_out: *mut usize) -> *const i32;
    pub fn tg_result_logprobs(result: *const tg_result, n_out: *mut usize) -> *const f32;
    pub fn tg_result_prompt_tokens(result: *const tg_result, n_out: *mut usize) -> *const i32;
    pub fn tg_result_stop_reason(result: *const tg_result) -> i32;
    pub fn tg_stop_reason_str(reason: i32) -> *const c_char;
    pub fn tg_result_timing(out: *mut tg_timing, result: *const tg_result) -> tg_status;
    pub fn tg_result_free(result: *mut tg_result);
    pub fn tg_result_n_sequences(result: *const tg_result) -> usize;
    pub fn tg_result_num_beams(result: *const tg_result) -> i32;
    pub fn tg_result_beam_scorers(result: *const tg_result) -> *const c_char;
    pub fn tg_result_sequence_text(
        result: *const tg_result,
        index: usize,
        len_out: *mut usize,
    ) -> *const c_char;
    pub fn tg_result_sequence_tokens(
        result: *const tg_result,
        index: usize,
        n_out: *mut usize,
    ) -> *const i32;
    pub fn tg_result_sequence_logprobs(
        result: *const tg_result,
        index: usize,
        n_out: *mut usize,
    ) -> *const f32;
    pub fn tg_result_sequence_score(result: *const tg_result, index: usize) -> c_double;
    pub fn tg_result_sequence_stop_reason(result: *const tg_result, index: usize) -> i32;

    pub fn tg_generator_create(
        out: *mut *mut tg_generator,
        model: *const tg_model,
        prompt: *const c_char,
        opts: *const tg_generate_options,
    ) -> tg_status;
    pub fn tg_generator_next(
        token_out: *mut i32,
        text_out: *mut *const c_char,
        len_out: *mut usize,
        stop_out: *mut i32,
        gen: *mut tg_generator,
    ) -> tg_status;
    pub fn tg_generator_result(out: *mut *mut tg_result, gen: *const tg_generator) -> tg_status;
    pub fn tg_generator_free(gen: *mut tg_generator);

    pub fn tg_chain_options_init(opts: *mut tg_chain_options, struct_size: u32) -> tg_status;
    pub fn tg_chain_parse(
        out: *mut *mut tg_chain,
        spec: *const c_char,
        opts: *const tg_chain_options,
    ) -> tg_status;
    pub fn tg_chain_print(out: *mut *mut c_char, chain: *const tg_chain) -> tg_status;
    pub fn tg_chain_sample(
        token_out: *mut i32,
        logprob_out: *mut f32,
        chain: *mut tg_chain,
        logits: *const f32,
    ) -> tg_status;
    pub fn tg_chain_accept(chain: *mut tg_chain, token: i32) -> tg_status;
    pub fn tg_chain_clone(out: *mut *mut tg_chain, chain: *const tg_chain) -> tg_status;
    pub fn tg_chain_free(chain: *mut tg_chain);

    pub fn tg_candidates_sort(c: *mut tg_candidates, k: usize) -> tg_status;
    pub fn tg_candidates_softmax(c: *mut tg_candidates) -> tg_status;
    pub fn tg_candidates_truncate(c: *mut tg_candidates, n: usize) -> tg_status;
    pub fn tg_candidates_keep(c: *mut tg_candidates, keep: *const u8) -> tg_status;
    pub fn tg_candidates_keep_if(
        c: *mut tg_candidates,
        keep: tg_candidate_pred,
        user_data: *mut c_void,
    ) -> tg_status;
    pub fn tg_plugin_set_error(status: tg_status, message: *const c_char) -> tg_status;
    pub fn tg_plugin_register(desc: *const tg_plugin_desc, user_data: *mut c_void) -> tg_status;
}

#[cfg(test)]
mod layout {
    use super::*;
    use std::mem::{align_of, size_of};

    // The x86_64 sizes of tests/abi/test_layout.c: a mismatch means this file drifted.
    #[test]
    fn sizes_match_the_c_headers() {
        assert_eq!(size_of::<tg_model_options>(), 12);
        assert_eq!(size_of::<tg_model_info>(), 64);
        assert_eq!(size_of::<tg_generate_options>(), 144);
        assert_eq!(size_of::<tg_timing>(), 40);
        assert_eq!(size_of::<tg_chain_options>(), 40);
        assert_eq!(size_of::<tg_candidates>(), 64);
        assert_eq!(size_of::<tg_step_info>(), 48);
        assert_eq!(size_of::<tg_proc_context>(), 40);
        assert_eq!(size_of::<tg_param_spec>(), 48);
        assert_eq!(size_of::<tg_param_value>(), 56);
        assert_eq!(size_of::<tg_processor_vtable>(), 160);
        assert_eq!(size_of::<tg_plugin_desc>(), 88);
        assert_eq!(align_of::<tg_generate_options>(), 8);
    }
}
