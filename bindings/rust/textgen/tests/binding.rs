//! The Rust binding against the bundled model ($TEXTGEN_MODEL): load, tokenizer round trip,
//! greedy ids equal to the C library's (examples/greedy.c, $TG_GREEDY_EXE), beam search equal to
//! the C library's (bindings/reference/beam_reference.c), streaming equal to the result, errors
//! from 4 threads, a processor written in Rust next to built-ins, and every processor state dropped (the library calls destroy, the binding frees the box).
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread;

use textgen::{
    sys, Candidates, Chain, GenerateOptions, Model, Param, Processor, ProcessorDef, Step, Value,
};

const PROMPT: &str = "ROMEO:\nShall I";

fn model() -> Model {
    Model::load_default().expect("the bundled model loads ($TEXTGEN_MODEL)")
}

fn c_greedy(dir: &str, ids: &[i32], n: usize) -> Vec<i32> {
    let exe = std::env::var("TG_GREEDY_EXE").expect("TG_GREEDY_EXE names examples/greedy");
    let mut args = vec![dir.to_string(), n.to_string()];
    args.extend(ids.iter().map(|i| i.to_string()));
    let out = Command::new(exe).args(&args).output().expect("examples/greedy runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().split_whitespace().map(|s| s.parse().unwrap()).collect()
}

/// The C library's beam search (bindings/reference/beam_reference.c, $TG_BEAM_REFERENCE_EXE):
/// per sequence, best first, (score, stop reason, ids).
fn c_beams(o: &GenerateOptions) -> Vec<(f64, String, Vec<i32>)> {
    let exe = std::env::var("TG_BEAM_REFERENCE_EXE").expect("TG_BEAM_REFERENCE_EXE is set");
    let args = [
        PROMPT.to_string(),
        o.num_beams.to_string(),
        o.num_return_sequences.to_string(),
        o.max_new_tokens.to_string(),
        o.early_stopping.to_string(),
        o.samplers.clone().unwrap_or_default(),
        o.beam_scorers.clone().unwrap_or_default(),
    ];
    let out = Command::new(exe).args(&args).output().expect("beam_reference runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let ids = f[2..].iter().map(|s| s.parse().unwrap()).collect();
            (f[0].parse().unwrap(), f[1].to_string(), ids)
        })
        .collect()
}

#[test]
fn load() {
    let m = model();
    assert_eq!(m.info().unwrap().n_vocab, 65);
    assert_eq!(m.tokenizer().unwrap().n_vocab(), 65);
    assert!(!textgen::version().is_empty());
}

#[test]
fn tokenizer_round_trip() {
    let m = model();
    let tok = m.tokenizer().unwrap();
    let text = "ROMEO: But soft! what light through yonder window breaks?";
    let ids = tok.encode(text).unwrap();
    assert_eq!(ids.len(), text.len());
    assert_eq!(tok.decode(&ids).unwrap(), text);
}

#[test]
fn greedy_equals_the_c_library() {
    let m = model();
    let opts = GenerateOptions {
        samplers: Some("greedy".into()),
        max_new_tokens: 24,
        flags: sys::TG_GEN_IGNORE_EOS,
        ..Default::default()
    };
    let g = m.generate(PROMPT, &opts).unwrap();
    let prompt_ids = m.tokenizer().unwrap().encode(PROMPT).unwrap();
    assert_eq!(g.tokens, c_greedy(&m.path(), &prompt_ids, 24));
    assert_eq!(g.prompt_tokens, prompt_ids);
    assert_eq!(g.stop_reason, "max_tokens");
}

#[test]
fn streaming_equals_the_result() {
    let m = model();
    let opts = GenerateOptions {
        samplers: Some("top_k(k=20) temperature(t=0.9) dist".into()),
        max_new_tokens: 40,
        seed: 7,
        ..Default::default()
    };
    let mut stream = m.stream(PROMPT, &opts).unwrap();
    let text: String = stream.by_ref().map(|c| c.unwrap()).collect();
    let result = stream.result().unwrap().clone();
    assert_eq!(text, result.text);
    assert_eq!(result.tokens.len(), 40);
    let (mut pieces, mut ids) = (String::new(), Vec::new());
    let g = m
        .generate_with(PROMPT, &opts, |t, i| {
            pieces.push_str(t);
            ids.extend_from_slice(i);
            true
        })
        .unwrap();
    assert_eq!(pieces, g.text);
    assert_eq!(ids, g.tokens);
    assert_eq!(g.tokens, result.tokens, "same seed, same tokens");
}

#[test]
fn beam_search_equals_the_c_library() {
    let m = model();
    let cases = [
        GenerateOptions {
            num_beams: 4,
            num_return_sequences: 3,
            max_new_tokens: 12,
            early_stopping: sys::TG_EARLY_STOP_NEVER,
            beam_scorers: Some("length_penalty(alpha=1.5)".into()),
            flags: sys::TG_GEN_NO_CONFIG,
            ..Default::default()
        },
        GenerateOptions {
            samplers: Some("top_k(k=5) greedy".into()),
            num_beams: 4,
            num_return_sequences: 4,
            max_new_tokens: 10,
            early_stopping: sys::TG_EARLY_STOP_TRUE,
            beam_scorers: Some("diverse_groups(groups=2, penalty=1.0)".into()),
            flags: sys::TG_GEN_NO_CONFIG,
            ..Default::default()
        },
    ];
    let tok = m.tokenizer().unwrap();
    for opts in &cases {
        let g = m.generate(PROMPT, opts).unwrap();
        let want = c_beams(opts);
        assert_eq!(want.len(), opts.num_return_sequences as usize);
        let got: Vec<(f64, String, Vec<i32>)> = g
            .sequences
            .iter()
            .map(|s| (s.score, s.stop_reason.clone(), s.tokens.clone()))
            .collect();
        assert_eq!(got, want, "{:?}", opts);
        assert_eq!(g.tokens, g.sequences[0].tokens, "sequence 0 is the best");
        assert_eq!(g.text, g.sequences[0].text);
        for s in &g.sequences {
            assert_eq!(s.text, tok.decode(&s.tokens).unwrap());
            assert_eq!(s.logprobs.len(), s.tokens.len());
        }
        assert_ne!(g.sequences[0].tokens, g.sequences[1].tokens);
        assert_eq!(g.num_beams, 4);
        let scorers = match opts.beam_scorers.as_deref() {
            Some("length_penalty(alpha=1.5)") => "length_penalty(alpha=1.5)",
            _ => "diverse_groups(groups=2, penalty=1) length_penalty(alpha=1)",
        };
        assert_eq!(g.beam_scorers.as_deref(), Some(scorers));
    }
    let one_seq =
        GenerateOptions { max_new_tokens: 3, flags: sys::TG_GEN_NO_CONFIG, ..Default::default() };
    let one = m.generate(PROMPT, &one_seq).unwrap();
    assert_eq!((one.num_beams, one.beam_scorers), (1, None));
}

#[test]
fn beam_search_streams_the_best_sequence() {
    let m = model();
    let opts = GenerateOptions {
        num_beams: 3,
        num_return_sequences: 2,
        max_new_tokens: 20,
        flags: sys::TG_GEN_NO_CONFIG,
        ..Default::default()
    };
    let (mut pieces, mut ids) = (String::new(), Vec::new());
    let g = m
        .generate_with(PROMPT, &opts, |t, i| {
            pieces.push_str(t);
            ids.extend_from_slice(i);
            true
        })
        .unwrap();
    assert_eq!(pieces, g.text);
    assert_eq!(ids, g.tokens);
    let mut stream = m.stream(PROMPT, &opts).unwrap();
    let text: String = stream.by_ref().map(|c| c.unwrap()).collect();
    let result = stream.result().unwrap().clone();
    assert_eq!(text, g.text);
    assert_eq!(result.sequences, g.sequences);
    let too_many = GenerateOptions { num_beams: 2, num_return_sequences: 3, ..Default::default() };
    let e = m.generate(PROMPT, &too_many).unwrap_err();
    assert_eq!(e.status(), sys::TG_ERANGE);
    assert!(e.message().contains("num_return_sequences = 3 is more than num_beams = 2"), "{}", e);
}

#[test]
fn the_callback_stops_generation_or_its_panic_resumes() {
    let m = model();
    let opts = GenerateOptions {
        samplers: Some("greedy".into()),
        max_new_tokens: 50,
        ..Default::default()
    };
    let mut calls = 0;
    let g = m
        .generate_with(PROMPT, &opts, |_, _| {
            calls += 1;
            calls < 5
        })
        .unwrap();
    assert_eq!(g.stop_reason, "callback");
    assert_eq!(g.tokens.len(), 5);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = m.generate_with(PROMPT, &opts, |_, _| panic!("boom from the callback"));
    }));
    let payload = caught.expect_err("the panic comes back");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom from the callback"));
}

#[test]
fn errors_carry_the_right_message_under_concurrency() {
    let m = Arc::new(model());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                let mine = if t % 2 == 1 {
                    format!("/no/such/folder-{}", t)
                } else {
                    format!("nope_{}", t)
                };
                let mut wrong = Vec::new();
                for _ in 0..50 {
                    let err = if t % 2 == 1 {
                        Model::load(&mine).err()
                    } else {
                        Chain::parse(&format!("{} greedy", mine), &m, 0).err()
                    };
                    let want = if t % 2 == 1 { sys::TG_ENOTFOUND } else { sys::TG_ESPEC };
                    match err {
                        Some(e) if e.status() == want && e.message().contains(&mine) => {}
                        other => wrong.push(format!("{:?}", other)),
                    }
                }
                wrong
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Vec::<String>::new());
    }
    let e = Chain::parse_vocab("top_p(p=2) greedy", 10, 0).err().unwrap();
    assert_eq!(e.status_name(), "TG_ESPEC: invalid sampler specification");
    assert!(e.message().contains("top_p(p=...): "), "{}", e);
}

static LIVE_STATES: AtomicUsize = AtomicUsize::new(0);

struct BanId {
    banned: i32,
}

impl BanId {
    fn new(banned: i32) -> BanId {
        LIVE_STATES.fetch_add(1, Ordering::SeqCst);
        BanId { banned }
    }
}

impl Drop for BanId {
    fn drop(&mut self) {
        LIVE_STATES.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Processor for BanId {
    fn apply(&mut self, c: &mut Candidates<'_>, _step: &Step<'_>) -> textgen::Result<()> {
        let banned = self.banned;
        c.retain(|id, _| id != banned)
    }
    fn box_clone(&self) -> Option<Box<dyn Processor>> {
        Some(Box::new(BanId::new(self.banned)))
    }
}

fn register_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        textgen::register_processor(ProcessorDef {
            name: "rs_ban_id".into(),
            kind: sys::TG_PROC_FILTER,
            doc: "drop one id (Rust)".into(),
            params: vec![Param {
                name: "id".into(),
                type_: sys::TG_PARAM_INT,
                default: Some("0".into()),
                min: 0.0,
                max: 1e9,
                doc: "the id dropped".into(),
            }],
            create: Box::new(|values, n_vocab| match values[0] {
                Value::Int(id) if id < n_vocab as i64 => {
                    Ok(Box::new(BanId::new(id as i32)) as Box<dyn Processor>)
                }
                Value::Int(id) => Err(textgen::Error::new(
                    sys::TG_ERANGE,
                    format!("id {} is outside the vocabulary", id),
                )),
                _ => unreachable!("the schema says INT"),
            }),
        })
        .unwrap();
    });
}

#[test]
fn a_rust_processor_runs_next_to_builtins_and_every_state_is_dropped() {
    register_once();
    let m = model();
    let e = m.tokenizer().unwrap().encode("e").unwrap()[0];
    let mut opts = GenerateOptions {
        samplers: Some(format!("rs_ban_id(id={}) top_k(k=10) temperature(t=1.2) dist", e)),
        max_new_tokens: 120,
        seed: 3,
        ..Default::default()
    };
    let g = m.generate(PROMPT, &opts).unwrap();
    assert_eq!(g.tokens.len(), 120);
    assert!(!g.tokens.contains(&e));
    opts.samplers = Some("top_k(k=10) temperature(t=1.2) dist".into());
    assert!(m.generate(PROMPT, &opts).unwrap().tokens.contains(&e), "without it, 'e' occurs");
    {
        let mut c = Chain::parse("rs_ban_id(id=3) greedy", &m, 0).unwrap();
        assert_eq!(c.spec().unwrap(), "rs_ban_id(id=3) greedy");
        let mut copy = c.try_clone().unwrap();
        let mut logits = vec![0.0f32; 65];
        logits[3] = 5.0;
        logits[9] = 4.0;
        assert_eq!(copy.sample(&logits).unwrap(), 9);
        assert_eq!(c.sample(&logits).unwrap(), 9);
        assert!(LIVE_STATES.load(Ordering::SeqCst) >= 2);
    }
    let err = Chain::parse("rs_ban_id(id=999) greedy", &m, 0).err().unwrap();
    assert_eq!(err.status(), sys::TG_ESPEC);
    assert!(err.message().contains("rs_ban_id: id 999 is outside the vocabulary"), "{}", err);
    let dup = textgen::register_processor(ProcessorDef {
        name: "rs_ban_id".into(),
        kind: sys::TG_PROC_FILTER,
        doc: "again".into(),
        params: vec![],
        create: Box::new(|_, _| Err(textgen::Error::new(sys::TG_EUSER, "never"))),
    });
    assert_eq!(dup.err().unwrap().status(), sys::TG_EEXISTS);
    // only this test makes BanId states: every one of them is gone with its chain
    assert_eq!(LIVE_STATES.load(Ordering::SeqCst), 0, "every processor state is dropped");
}
