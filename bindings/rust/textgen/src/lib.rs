//! Safe Rust binding of libtextgen (docs/bindings.md).
//!
//! ```no_run
//! let model = textgen::Model::load_default()?; // $TEXTGEN_MODEL, else the bundled model
//! let opts = textgen::GenerateOptions { samplers: Some("top_k(k=40) dist".into()), seed: 1,
//!                                       ..Default::default() };
//! for chunk in model.stream("ROMEO:", &opts)? {
//!     print!("{}", chunk?);
//! }
//! # Ok::<(), textgen::Error>(())
//! ```
//!
//! Every failure is an [`Error`] carrying the status and the library's message, read on the same
//! thread right after the failing call. Ownership follows the C docs: [`Model`] is `Send + Sync`
//! (immutable, shared by threads), [`Tokenizer`] borrows its model and is `Send + Sync`;
//! [`Chain`] and [`Stream`] are `Send` but not `Sync` (one thread at a time). Dropping frees.
//! Processors written in Rust join chains with [`register_processor`].

use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};

pub use textgen_sys as sys;

// ---- errors ------------------------------------------------------------------------------------

/// A failed libtextgen call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

impl Error {
    pub fn new(status: i32, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }
    /// The TG_E* status code (negative).
    pub fn status(&self) -> i32 {
        self.status
    }
    /// "TG_EINVAL: invalid argument" and the like.
    pub fn status_name(&self) -> &'static str {
        unsafe { cstr(sys::tg_status_str(self.status)) }
    }
    /// The library's message: names the file, tensor, argument or stage at fault.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status_name())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turn a status into a Result; on failure the message is read now, on this thread.
fn check(status: sys::tg_status) -> Result<()> {
    if status == sys::TG_OK {
        return Ok(());
    }
    let msg = unsafe { cstr(sys::tg_error_last()) };
    Err(Error::new(
        status,
        if msg.is_empty() { unsafe { cstr(sys::tg_status_str(status)) } } else { msg },
    ))
}

unsafe fn cstr<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("(not UTF-8)")
    }
}

fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(sys::TG_EINVAL, format!("{} contains a NUL byte", what)))
}

unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if n == 0 || p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

/// The version of the loaded library, e.g. "0.1.0".
pub fn version() -> &'static str {
    unsafe { cstr(sys::tg_version_string()) }
}

/// The installed plugin folder, found relative to the loaded library.
pub fn plugins_dir() -> Result<String> {
    let mut d = ptr::null();
    check(unsafe { sys::tg_plugins_dir(&mut d) })?;
    Ok(unsafe { cstr(d) }.to_string())
}

/// `$TEXTGEN_MODEL`, else the bundled model installed with the library.
pub fn default_model_dir() -> Result<String> {
    let mut d = ptr::null();
    check(unsafe { sys::tg_default_model_dir(&mut d) })?;
    Ok(unsafe { cstr(d) }.to_string())
}

// ---- model and tokenizer -----------------------------------------------------------------------

/// A loaded model: immutable, shared freely across threads.
pub struct Model {
    ptr: NonNull<sys::tg_model>,
}

// The C library: "a loaded tg_model is immutable; it may be shared by any number of threads".
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Model {
    /// Load a model folder (config.json, model.safetensors, a tokenizer).
    pub fn load(dir: &str) -> Result<Model> {
        let dir = c_string(dir, "the model folder")?;
        let opts = model_options()?;
        let mut m = ptr::null_mut();
        check(unsafe { sys::tg_model_load(&mut m, dir.as_ptr(), &opts) })?;
        Ok(Model { ptr: NonNull::new(m).expect("tg_model_load gave NULL with TG_OK") })
    }

    /// `$TEXTGEN_MODEL`, else the bundled model installed with the library.
    pub fn load_default() -> Result<Model> {
        let opts = model_options()?;
        let mut m = ptr::null_mut();
        check(unsafe { sys::tg_model_load_default(&mut m, &opts) })?;
        Ok(Model { ptr: NonNull::new(m).expect("tg_model_load_default gave NULL with TG_OK") })
    }

    pub fn as_ptr(&self) -> *const sys::tg_model {
        self.ptr.as_ptr()
    }

    pub fn info(&self) -> Result<sys::tg_model_info> {
        let mut info = sys::tg_model_info {
            struct_size: size_of::<sys::tg_model_info>() as u32,
            ..Default::default()
        };
        check(unsafe { sys::tg_model_get_info(&mut info, self.as_ptr()) })?;
        Ok(info)
    }

    pub fn path(&self) -> String {
        unsafe { cstr(sys::tg_model_path(self.as_ptr())) }.to_string()
    }

    /// The model folder's tokenizer (borrowed from the model).
    pub fn tokenizer(&self) -> Result<Tokenizer<'_>> {
        let t = unsafe { sys::tg_model_tokenizer(self.as_ptr()) };
        match NonNull::new(t as *mut sys::tg_tokenizer) {
            Some(ptr) => Ok(Tokenizer { ptr, _model: PhantomData }),
            None => Err(Error::new(
                sys::TG_ENOTFOUND,
                format!("the model folder '{}' has no tokenizer", self.path()),
            )),
        }
    }

    /// Generate a continuation of `prompt` in one call.
    pub fn generate(&self, prompt: &str, opts: &GenerateOptions) -> Result<Generation> {
        let c = CGenerateOptions::new(opts)?;
        let prompt = c_string(prompt, "the prompt")?;
        let mut r = ptr::null_mut();
        check(unsafe { sys::tg_generate(&mut r, self.as_ptr(), prompt.as_ptr(), &c.opts) })?;
        Ok(unsafe { Generation::take(r) })
    }

    /// Generate, handing each piece of text (valid UTF-8) and the ids completed with it to
    /// `on_text`; returning `false` stops generation (stop reason "callback"). A panic in
    /// `on_text` stops generation and resumes unwinding once the library has returned.
    pub fn generate_with<F>(
        &self,
        prompt: &str,
        opts: &GenerateOptions,
        on_text: F,
    ) -> Result<Generation>
    where
        F: FnMut(&str, &[i32]) -> bool,
    {
        struct Ctx<F> {
            f: F,
            panic: Option<Box<dyn std::any::Any + Send>>,
        }
        unsafe extern "C" fn call<F: FnMut(&str, &[i32]) -> bool>(
            text: *const c_char,
            len: usize,
            ids: *const i32,
            n_ids: usize,
            user: *mut c_void,
        ) -> i32 {
            let ctx = &mut *(user as *mut Ctx<F>);
            if ctx.panic.is_some() {
                return 1; // the flush after a stop request: we are unwinding
            }
            // `ids` may be NULL when there are none: never build a slice from it then.
            let text = std::str::from_utf8(slice(text as *const u8, len)).unwrap_or("");
            let ids = slice(ids, n_ids);
            match catch_unwind(AssertUnwindSafe(|| (ctx.f)(text, ids))) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(p) => {
                    ctx.panic = Some(p);
                    1
                }
            }
        }
        let mut c = CGenerateOptions::new(opts)?;
        let mut ctx = Ctx { f: on_text, panic: None };
        c.opts.on_text = Some(call::<F>);
        c.opts.user_data = &mut ctx as *mut Ctx<F> as *mut c_void;
        let prompt = c_string(prompt, "the prompt")?;
        let mut r = ptr::null_mut();
        let st = unsafe { sys::tg_generate(&mut r, self.as_ptr(), prompt.as_ptr(), &c.opts) };
        let gen = if r.is_null() { None } else { Some(unsafe { Generation::take(r) }) };
        if let Some(p) = ctx.panic.take() {
            std::panic::resume_unwind(p);
        }
        check(st)?;
        Ok(gen.expect("tg_generate gave no result with TG_OK"))
    }

    /// An iterator over the text chunks of a generation, one token per step.
    pub fn stream(&self, prompt: &str, opts: &GenerateOptions) -> Result<Stream<'_>> {
        let c = CGenerateOptions::new(opts)?;
        let prompt = c_string(prompt, "the prompt")?;
        let mut g = ptr::null_mut();
        check(unsafe {
            sys::tg_generator_create(&mut g, self.as_ptr(), prompt.as_ptr(), &c.opts)
        })?;
        Ok(Stream {
            ptr: NonNull::new(g).expect("tg_generator_create gave NULL with TG_OK"),
            done: false,
            result: None,
            _model: PhantomData,
        })
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::tg_model_free(self.ptr.as_ptr()) }
    }
}

fn model_options() -> Result<sys::tg_model_options> {
    let mut o = sys::tg_model_options::default();
    check(unsafe {
        sys::tg_model_options_init(&mut o, size_of::<sys::tg_model_options>() as u32)
    })?;
    Ok(o)
}

/// A model's tokenizer: immutable, usable from any thread while the model lives.
///
/// ```compile_fail
/// let tok = textgen::Model::load_default().unwrap().tokenizer().unwrap(); // the model is dropped
/// tok.encode("x");
/// ```
#[derive(Clone, Copy)]
pub struct Tokenizer<'m> {
    ptr: NonNull<sys::tg_tokenizer>,
    _model: PhantomData<&'m Model>,
}

unsafe impl Send for Tokenizer<'_> {}
unsafe impl Sync for Tokenizer<'_> {}

impl Tokenizer<'_> {
    pub fn n_vocab(&self) -> i32 {
        unsafe { sys::tg_tokenizer_n_vocab(self.ptr.as_ptr()) }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<i32>> {
        let mut ids = ptr::null_mut();
        let mut n = 0usize;
        check(unsafe {
            sys::tg_tokenizer_encode(
                &mut ids,
                &mut n,
                self.ptr.as_ptr(),
                text.as_ptr() as *const c_char,
                text.len(),
                0,
            )
        })?;
        let out = unsafe { slice(ids, n) }.to_vec();
        unsafe { sys::tg_free(ids as *mut c_void) };
        Ok(out)
    }

    pub fn decode(&self, ids: &[i32]) -> Result<String> {
        let mut text = ptr::null_mut();
        let mut len = 0usize;
        check(unsafe {
            sys::tg_tokenizer_decode(
                &mut text,
                &mut len,
                self.ptr.as_ptr(),
                ids.as_ptr(),
                ids.len(),
                0,
            )
        })?;
        let out = String::from_utf8_lossy(unsafe { slice(text as *const u8, len) }).into_owned();
        unsafe { sys::tg_free(text as *mut c_void) };
        Ok(out)
    }
}

// ---- generation ---------------------------------------------------------------------------------

/// Options of a generation; `Default` is the C library's defaults.
#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Chain spec; None: generation_config.json, else greedy.
    pub samplers: Option<String>,
    /// 0: the model's default (else 128); -1: until the context is full.
    pub max_new_tokens: i32,
    pub stop_strings: Vec<String>,
    pub stop_tokens: Vec<i32>,
    pub max_time_s: f64,
    pub seed: u64,
    pub n_threads: i32,
    /// `sys::TG_GEN_*`.
    pub flags: u32,
    /// B > 1: beam search with B beams; 0 or 1: one sequence.
    pub num_beams: i32,
    /// Sequences in the result with beam search, best first: 1..=B; 0 = 1.
    pub num_return_sequences: i32,
    /// `sys::TG_EARLY_STOP_*` (Hugging Face's False / True / "never").
    pub early_stopping: i32,
    /// Beam scorers, written like a chain spec: "length_penalty(alpha=2)",
    /// "diverse_groups(groups=2, penalty=0.5)"; None: length_penalty(alpha=1).
    pub beam_scorers: Option<String>,
}

/// A tg_generate_options and the C strings it points into.
struct CGenerateOptions {
    opts: sys::tg_generate_options,
    _samplers: Option<CString>,
    _beam_scorers: Option<CString>,
    _stops: Vec<CString>,
    _stop_ptrs: Vec<*const c_char>,
    _stop_tokens: Vec<i32>,
}

impl CGenerateOptions {
    fn new(o: &GenerateOptions) -> Result<CGenerateOptions> {
        let mut opts: sys::tg_generate_options = unsafe { std::mem::zeroed() };
        check(unsafe {
            sys::tg_generate_options_init(&mut opts, size_of::<sys::tg_generate_options>() as u32)
        })?;
        let samplers = match &o.samplers {
            Some(s) => Some(c_string(s, "samplers")?),
            None => None,
        };
        let mut stops = Vec::new();
        for s in &o.stop_strings {
            stops.push(c_string(s, "a stop string")?);
        }
        let stop_ptrs: Vec<*const c_char> = stops.iter().map(|s| s.as_ptr()).collect();
        let stop_tokens = o.stop_tokens.clone();
        opts.samplers = samplers.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        opts.max_new_tokens = o.max_new_tokens;
        opts.stop_strings = if stop_ptrs.is_empty() { ptr::null() } else { stop_ptrs.as_ptr() };
        opts.n_stop_strings = stop_ptrs.len();
        opts.stop_tokens = if stop_tokens.is_empty() { ptr::null() } else { stop_tokens.as_ptr() };
        opts.n_stop_tokens = stop_tokens.len();
        opts.max_time_s = o.max_time_s;
        opts.seed = o.seed;
        opts.n_threads = o.n_threads;
        opts.flags = o.flags;
        let beam_scorers = match &o.beam_scorers {
            Some(s) => Some(c_string(s, "beam_scorers")?),
            None => None,
        };
        opts.num_beams = o.num_beams;
        opts.num_return_sequences = o.num_return_sequences;
        opts.early_stopping = o.early_stopping;
        opts.beam_scorers = beam_scorers.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        Ok(CGenerateOptions {
            opts,
            _samplers: samplers,
            _beam_scorers: beam_scorers,
            _stops: stops,
            _stop_ptrs: stop_ptrs,
            _stop_tokens: stop_tokens,
        })
    }
}

/// One sequence of a generation: beam search returns several, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    pub text: String,
    pub tokens: Vec<i32>,
    /// Per token: the score it added to its hypothesis (beam search) or its log-probability.
    pub logprobs: Vec<f32>,
    /// The beam scorer's final score, or the sum of the log-probabilities.
    pub score: f64,
    /// "max_tokens", "eos", "stop_string", ...
    pub stop_reason: String,
}

/// What a generation produced (copied out of the library's result, which is freed). `text`,
/// `tokens`, `logprobs` and `stop_reason` describe the best sequence, `sequences[0]`.
#[derive(Clone, Debug)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<i32>,
    pub logprobs: Vec<f32>,
    pub prompt_tokens: Vec<i32>,
    /// "max_tokens", "eos", "stop_string", "callback", ...
    pub stop_reason: String,
    pub timing: sys::tg_timing,
    /// Every sequence, best first (one without beam search).
    pub sequences: Vec<Sequence>,
    /// Beams the search ran with (the options', else generation_config.json's): 1 without.
    pub num_beams: i32,
    /// The beam scorers the search ran with, every parameter written out; None without beams.
    pub beam_scorers: Option<String>,
}

impl Sequence {
    unsafe fn copy(r: *const sys::tg_result, i: usize) -> Sequence {
        let mut n = 0usize;
        let t = sys::tg_result_sequence_text(r, i, &mut n);
        let text = String::from_utf8_lossy(slice(t as *const u8, n)).into_owned();
        let tokens = slice(sys::tg_result_sequence_tokens(r, i, &mut n), n).to_vec();
        let logprobs = slice(sys::tg_result_sequence_logprobs(r, i, &mut n), n).to_vec();
        let reason = sys::tg_result_sequence_stop_reason(r, i);
        Sequence {
            text,
            tokens,
            logprobs,
            score: sys::tg_result_sequence_score(r, i),
            stop_reason: cstr(sys::tg_stop_reason_str(reason)).to_string(),
        }
    }
}

impl Generation {
    /// Copy a tg_result and free it.
    unsafe fn take(r: *mut sys::tg_result) -> Generation {
        let mut n = 0usize;
        let t = sys::tg_result_text(r, &mut n);
        let text = String::from_utf8_lossy(slice(t as *const u8, n)).into_owned();
        let tokens = slice(sys::tg_result_tokens(r, &mut n), n).to_vec();
        let logprobs = slice(sys::tg_result_logprobs(r, &mut n), n).to_vec();
        let prompt_tokens = slice(sys::tg_result_prompt_tokens(r, &mut n), n).to_vec();
        let stop_reason = cstr(sys::tg_stop_reason_str(sys::tg_result_stop_reason(r))).to_string();
        let mut timing = sys::tg_timing {
            struct_size: size_of::<sys::tg_timing>() as u32,
            ..Default::default()
        };
        sys::tg_result_timing(&mut timing, r);
        let sequences = (0..sys::tg_result_n_sequences(r)).map(|i| Sequence::copy(r, i)).collect();
        let num_beams = sys::tg_result_num_beams(r);
        let scorers = sys::tg_result_beam_scorers(r);
        let beam_scorers = if scorers.is_null() { None } else { Some(cstr(scorers).to_string()) };
        sys::tg_result_free(r);
        Generation {
            text,
            tokens,
            logprobs,
            prompt_tokens,
            stop_reason,
            timing,
            sequences,
            num_beams,
            beam_scorers,
        }
    }
}

/// Text chunks of a generation, one token per step. After the last chunk, [`Stream::result`]
/// holds the [`Generation`].
pub struct Stream<'m> {
    ptr: NonNull<sys::tg_generator>,
    done: bool,
    result: Option<Generation>,
    _model: PhantomData<&'m Model>,
}

// A generator belongs to one thread at a time: it may move, not be shared.
unsafe impl Send for Stream<'_> {}

impl Stream<'_> {
    pub fn result(&self) -> Option<&Generation> {
        self.result.as_ref()
    }
}

impl Iterator for Stream<'_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        while !self.done {
            let (mut token, mut text, mut len, mut stop) = (0i32, ptr::null(), 0usize, 0i32);
            let st = unsafe {
                sys::tg_generator_next(
                    &mut token,
                    &mut text,
                    &mut len,
                    &mut stop,
                    self.ptr.as_ptr(),
                )
            };
            if let Err(e) = check(st) {
                self.done = true;
                return Some(Err(e));
            }
            let chunk =
                String::from_utf8_lossy(unsafe { slice(text as *const u8, len) }).into_owned();
            if stop != 0 {
                self.done = true;
                let mut r = ptr::null_mut();
                if let Err(e) =
                    check(unsafe { sys::tg_generator_result(&mut r, self.ptr.as_ptr()) })
                {
                    return Some(Err(e));
                }
                self.result = Some(unsafe { Generation::take(r) });
            }
            if !chunk.is_empty() {
                return Some(Ok(chunk));
            }
        }
        None
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        unsafe { sys::tg_generator_free(self.ptr.as_ptr()) }
    }
}

// ---- chains -----------------------------------------------------------------------------------

/// A sampler chain and the state of one sequence. `Send`, not `Sync`. A chain made for a model
/// borrows it (its stages may hold the model's tokenizer), so it cannot outlive the model:
///
/// ```compile_fail
/// let chain = {
///     let model = textgen::Model::load_default().unwrap();
///     textgen::Chain::parse("greedy", &model, 0).unwrap()
/// }; // error: `model` does not live long enough
/// ```
pub struct Chain<'m> {
    ptr: NonNull<sys::tg_chain>,
    n_vocab: usize,
    _model: PhantomData<&'m Model>,
}

unsafe impl Send for Chain<'_> {}

impl Chain<'static> {
    /// A chain for a bare vocabulary of `n_vocab` ids.
    pub fn parse_vocab(spec: &str, n_vocab: i32, seed: u64) -> Result<Chain<'static>> {
        Chain::parse_with(spec, ptr::null(), n_vocab, seed, n_vocab.max(0) as usize)
    }
}

impl<'m> Chain<'m> {
    /// A chain for `model`'s vocabulary, end ids and tokenizer.
    pub fn parse(spec: &str, model: &'m Model, seed: u64) -> Result<Chain<'m>> {
        let n_vocab = model.info()?.n_vocab as usize;
        Chain::parse_with(spec, model.as_ptr(), 0, seed, n_vocab)
    }

    fn parse_with(
        spec: &str,
        model: *const sys::tg_model,
        n_vocab: i32,
        seed: u64,
        n: usize,
    ) -> Result<Chain<'m>> {
        let spec = c_string(spec, "the chain spec")?;
        let mut o: sys::tg_chain_options = unsafe { std::mem::zeroed() };
        check(unsafe {
            sys::tg_chain_options_init(&mut o, size_of::<sys::tg_chain_options>() as u32)
        })?;
        o.model = model;
        o.n_vocab = n_vocab;
        o.seed = seed;
        let mut c = ptr::null_mut();
        check(unsafe { sys::tg_chain_parse(&mut c, spec.as_ptr(), &o) })?;
        Ok(Chain {
            ptr: NonNull::new(c).expect("tg_chain_parse gave NULL with TG_OK"),
            n_vocab: n,
            _model: PhantomData,
        })
    }

    /// The chain as a spec with every parameter written out.
    pub fn spec(&self) -> Result<String> {
        let mut s = ptr::null_mut();
        check(unsafe { sys::tg_chain_print(&mut s, self.ptr.as_ptr()) })?;
        let out = unsafe { cstr(s) }.to_string();
        unsafe { sys::tg_free(s as *mut c_void) };
        Ok(out)
    }

    /// Run every stage on the logits (exactly n_vocab of them) and pick a token.
    pub fn sample(&mut self, logits: &[f32]) -> Result<i32> {
        if logits.len() != self.n_vocab {
            return Err(Error::new(
                sys::TG_EINVAL,
                format!("sample: {} logits for a vocabulary of {}", logits.len(), self.n_vocab),
            ));
        }
        let mut tok = -1;
        check(unsafe {
            sys::tg_chain_sample(&mut tok, ptr::null_mut(), self.ptr.as_ptr(), logits.as_ptr())
        })?;
        Ok(tok)
    }

    pub fn accept(&mut self, token: i32) -> Result<()> {
        check(unsafe { sys::tg_chain_accept(self.ptr.as_ptr(), token) })
    }

    pub fn try_clone(&self) -> Result<Chain<'m>> {
        let mut c = ptr::null_mut();
        check(unsafe { sys::tg_chain_clone(&mut c, self.ptr.as_ptr()) })?;
        Ok(Chain {
            ptr: NonNull::new(c).expect("tg_chain_clone gave NULL with TG_OK"),
            n_vocab: self.n_vocab,
            _model: PhantomData,
        })
    }
}

impl Drop for Chain<'_> {
    fn drop(&mut self) {
        unsafe { sys::tg_chain_free(self.ptr.as_ptr()) }
    }
}

// ---- processors written in Rust -----------------------------------------------------------------

/// The live candidates of one step, as a processor sees them.
pub struct Candidates<'a> {
    raw: &'a mut sys::tg_candidates,
}

impl Candidates<'_> {
    pub fn len(&self) -> usize {
        self.raw.size
    }
    pub fn is_empty(&self) -> bool {
        self.raw.size == 0
    }
    pub fn ids(&self) -> &[i32] {
        unsafe { slice(self.raw.ids, self.raw.size) }
    }
    pub fn logits(&self) -> &[f32] {
        unsafe { slice(self.raw.logits, self.raw.size) }
    }
    /// Rewrite logits: probabilities and the sorted prefix are no longer known.
    pub fn logits_mut(&mut self) -> &mut [f32] {
        self.raw.probs_valid = 0;
        self.raw.sorted = 0;
        if self.raw.size == 0 {
            return &mut [];
        }
        unsafe { std::slice::from_raw_parts_mut(self.raw.logits, self.raw.size) }
    }
    /// Softmax over the live entries; returns the probabilities.
    pub fn softmax(&mut self) -> Result<&[f32]> {
        check(unsafe { sys::tg_candidates_softmax(self.raw) })?;
        Ok(unsafe { slice(self.raw.probs, self.raw.size) })
    }
    pub fn sort(&mut self, k: usize) -> Result<()> {
        check(unsafe { sys::tg_candidates_sort(self.raw, k) })
    }
    pub fn truncate(&mut self, n: usize) -> Result<()> {
        check(unsafe { sys::tg_candidates_truncate(self.raw, n) })
    }
    /// Keep the entries for which `keep(id, logit)` is true (stable; never keeps none).
    pub fn retain<F: FnMut(i32, f32) -> bool>(&mut self, mut keep: F) -> Result<()> {
        let mask: Vec<u8> =
            self.ids().iter().zip(self.logits()).map(|(&i, &l)| keep(i, l) as u8).collect();
        check(unsafe { sys::tg_candidates_keep(self.raw, mask.as_ptr()) })
    }
    /// A selector's choice: the index of the chosen entry.
    pub fn select(&mut self, index: usize) {
        self.raw.selected = index as i32;
    }
}

/// The step being decided.
pub struct Step<'a> {
    pub seed: u64,
    pub sequence: i32,
    pub step: i32,
    /// History: the prompt, then the generated tokens.
    pub tokens: &'a [i32],
    pub n_prompt: usize,
}

/// A processor state written in Rust. States move between threads (never shared), hence `Send`.
pub trait Processor: Send {
    fn apply(&mut self, cands: &mut Candidates<'_>, step: &Step<'_>) -> Result<()>;
    fn accept(&mut self, _token: i32, _step: &Step<'_>) -> Result<()> {
        Ok(())
    }
    fn reset(&mut self) {}
    /// A deep copy for `Chain::try_clone`; None refuses the clone.
    fn box_clone(&self) -> Option<Box<dyn Processor>> {
        None
    }
}

/// A parameter's value as parsed by the library (by its schema type).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Float(f64),
    Int(i64),
    Bool(bool),
    Text(String),
    Ids(Vec<i32>),
}

/// One parameter of a processor's schema.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    /// `sys::TG_PARAM_*`
    pub type_: u32,
    /// Parsed like a user value; None: required.
    pub default: Option<String>,
    pub min: f64,
    pub max: f64,
    pub doc: String,
}

type Factory = dyn Fn(&[Value], i32) -> Result<Box<dyn Processor>> + Send + Sync;

/// A processor written in Rust: its schema and a factory that makes a state from the parsed
/// parameter values (in schema order) and the vocabulary size.
pub struct ProcessorDef {
    pub name: String,
    /// `sys::TG_PROC_TRANSFORM`, `_FILTER` or `_SELECTOR`.
    pub kind: u32,
    pub doc: String,
    pub params: Vec<Param>,
    pub create: Box<Factory>,
}

struct State {
    def: &'static ProcessorDef,
    p: Box<dyn Processor>,
}

fn fail(def: &ProcessorDef, e: Error) -> sys::tg_status {
    let msg =
        CString::new(format!("{}: {}", def.name, e.message.replace('\0', " "))).unwrap_or_default();
    unsafe { sys::tg_plugin_set_error(e.status, msg.as_ptr()) }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panicked: {}", s)
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panicked: {}", s)
    } else {
        "panicked".to_string()
    }
}

/// Run a callback body: an error or a panic becomes the step's status and message.
fn guarded<F: FnOnce() -> Result<()>>(def: &ProcessorDef, f: F) -> sys::tg_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => sys::TG_OK,
        Ok(Err(e)) => fail(def, e),
        Err(p) => fail(def, Error::new(sys::TG_EUSER, panic_message(p))),
    }
}

unsafe fn step_of<'a>(s: *const sys::tg_step_info) -> Step<'a> {
    let s = &*s;
    Step {
        seed: s.seed,
        sequence: s.sequence,
        step: s.step,
        tokens: slice(s.tokens, s.n_tokens),
        n_prompt: s.n_prompt,
    }
}

unsafe fn value_of(p: &Param, v: &sys::tg_param_value) -> Value {
    match p.type_ {
        sys::TG_PARAM_INT => Value::Int(v.integer),
        sys::TG_PARAM_BOOL => Value::Bool(v.integer != 0),
        sys::TG_PARAM_STRING => Value::Text(cstr(v.string).to_string()),
        sys::TG_PARAM_IDS => Value::Ids(slice(v.ids, v.n_ids).to_vec()),
        _ => Value::Float(v.number),
    }
}

unsafe extern "C" fn t_create(
    out: *mut *mut c_void,
    values: *const sys::tg_param_value,
    ctx: *const sys::tg_proc_context,
) -> sys::tg_status {
    let def: &'static ProcessorDef = &*((*ctx).user_data as *const ProcessorDef);
    guarded(def, || {
        let vals: Vec<Value> =
            def.params.iter().enumerate().map(|(i, p)| value_of(p, &*values.add(i))).collect();
        let p = (def.create)(&vals, (*ctx).n_vocab)?;
        *out = Box::into_raw(Box::new(State { def, p })) as *mut c_void;
        Ok(())
    })
}

unsafe extern "C" fn t_apply(
    state: *mut c_void,
    c: *mut sys::tg_candidates,
    step: *const sys::tg_step_info,
) -> sys::tg_status {
    let s = &mut *(state as *mut State);
    let def = s.def;
    guarded(def, || s.p.apply(&mut Candidates { raw: &mut *c }, &step_of(step)))
}

unsafe extern "C" fn t_accept(
    state: *mut c_void,
    token: i32,
    step: *const sys::tg_step_info,
) -> sys::tg_status {
    let s = &mut *(state as *mut State);
    let def = s.def;
    guarded(def, || s.p.accept(token, &step_of(step)))
}

unsafe extern "C" fn t_reset(state: *mut c_void) {
    let s = &mut *(state as *mut State);
    let _ = catch_unwind(AssertUnwindSafe(|| s.p.reset())); // reset cannot fail in the C ABI
}

unsafe extern "C" fn t_clone(out: *mut *mut c_void, state: *const c_void) -> sys::tg_status {
    let s = &*(state as *const State);
    guarded(s.def, || match s.p.box_clone() {
        Some(p) => {
            *out = Box::into_raw(Box::new(State { def: s.def, p })) as *mut c_void;
            Ok(())
        }
        None => Err(Error::new(
            sys::TG_EUNSUPPORTED,
            "this processor cannot be cloned (implement box_clone)",
        )),
    })
}

unsafe extern "C" fn t_destroy(state: *mut c_void) {
    drop(Box::from_raw(state as *mut State));
}

/// Make a processor written in Rust usable by name in any chain spec of this process, next to
/// the built-in ones. Registration is permanent (the definition is leaked on purpose: the
/// library may call it for the life of the process). Errors: TG_EEXISTS for a name already
/// taken, TG_EPLUGIN for a bad schema.
pub fn register_processor(def: ProcessorDef) -> Result<()> {
    let name = c_string(&def.name, "the processor name")?;
    let doc = c_string(&def.doc, "the processor doc")?;
    let mut strings = Vec::new();
    let mut specs = Vec::new();
    for p in &def.params {
        let n = c_string(&p.name, "a parameter name")?;
        let d = match &p.default {
            Some(d) => Some(c_string(d, "a parameter default")?),
            None => None,
        };
        let doc = c_string(&p.doc, "a parameter doc")?;
        specs.push(sys::tg_param_spec {
            name: n.as_ptr(),
            type_: p.type_,
            default_value: d.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
            min: p.min,
            max: p.max,
            doc: doc.as_ptr(),
        });
        strings.push((n, d, doc));
    }
    let vt = sys::tg_processor_vtable {
        struct_size: size_of::<sys::tg_processor_vtable>() as u32,
        name: name.as_ptr(),
        kind: def.kind,
        doc: doc.as_ptr(),
        params: if specs.is_empty() { ptr::null() } else { specs.as_ptr() },
        n_params: specs.len(),
        create: Some(t_create),
        apply: Some(t_apply),
        accept: Some(t_accept),
        reset: Some(t_reset),
        clone: Some(t_clone),
        destroy: Some(t_destroy),
        save: ptr::null(),
        load: ptr::null(),
        check_stop: ptr::null(),
        reserved: [ptr::null_mut(); 4],
        scorer: ptr::null(),
    };
    let list = [&vt as *const sys::tg_processor_vtable];
    let version = CString::new(version()).unwrap_or_default();
    let license = CString::new("MIT").unwrap_or_default();
    let desc = sys::tg_plugin_desc {
        abi_version: sys::TG_PLUGIN_ABI_VERSION,
        struct_size: size_of::<sys::tg_plugin_desc>() as u32,
        name: name.as_ptr(),
        version: version.as_ptr(),
        license: license.as_ptr(),
        description: doc.as_ptr(),
        processors: list.as_ptr(),
        n_processors: 1,
        reserved: [ptr::null_mut(); 4],
    };
    let leaked: &'static ProcessorDef = Box::leak(Box::new(def));
    // The library copies the descriptor, vtable and strings; only `leaked` must stay.
    let st =
        unsafe { sys::tg_plugin_register(&desc, leaked as *const ProcessorDef as *mut c_void) };
    if st != sys::TG_OK {
        let err = check(st);
        // Not registered: nothing refers to the definition, so it can go.
        drop(unsafe { Box::from_raw(leaked as *const ProcessorDef as *mut ProcessorDef) });
        return err;
    }
    Ok(())
}
