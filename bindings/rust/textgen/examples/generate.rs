//! The Rust binding's example: a processor written in Rust (it bans the letters you name) in a
//! chain with built-in stages, streamed from the bundled model; then a beam search with it.
//!
//!     cargo run --example generate -- [PROMPT] [BANNED_LETTERS]
//!
//! The model: $TEXTGEN_MODEL, else the bundled one installed with libtextgen.
use std::io::Write;

use textgen::{
    sys, Candidates, GenerateOptions, Model, Param, Processor, ProcessorDef, Step, Value,
};

/// Drops the candidates whose text is one of the banned letters.
struct BanLetters {
    ids: Vec<i32>,
}

impl Processor for BanLetters {
    fn apply(&mut self, c: &mut Candidates<'_>, _step: &Step<'_>) -> textgen::Result<()> {
        let ids = &self.ids;
        c.retain(|id, _| !ids.contains(&id))
    }
    // Beam search gives every beam its own copy of the chain.
    fn box_clone(&self) -> Option<Box<dyn Processor>> {
        Some(Box::new(BanLetters { ids: self.ids.clone() }))
    }
}

fn main() -> Result<(), textgen::Error> {
    let args: Vec<String> = std::env::args().collect();
    let prompt = args.get(1).map_or("ROMEO:", |s| s.as_str()).to_string();
    let letters = args.get(2).map_or("e", |s| s.as_str()).to_string();
    // The processor's states need the tokenizer: the model lives for the whole program.
    let model: &'static Model = Box::leak(Box::new(Model::load_default()?));
    textgen::register_processor(ProcessorDef {
        name: "ban_letters".into(),
        kind: sys::TG_PROC_FILTER,
        doc: "drop the given letters (a Rust processor)".into(),
        params: vec![Param {
            name: "letters".into(),
            type_: sys::TG_PARAM_STRING,
            default: Some("e".into()),
            min: 0.0,
            max: 0.0,
            doc: "letters dropped".into(),
        }],
        create: Box::new(move |values, _n_vocab| {
            let text = match &values[0] {
                Value::Text(t) => t.clone(),
                _ => unreachable!("the schema says STRING"),
            };
            let ids = model.tokenizer()?.encode(&text)?;
            Ok(Box::new(BanLetters { ids }) as Box<dyn Processor>)
        }),
    })?;
    let opts = GenerateOptions {
        samplers: Some(format!(
            "ban_letters(letters=\"{}\") repetition_penalty(penalty=1.2) top_k(k=40) temperature(t=0.8) dist",
            letters
        )),
        max_new_tokens: 200,
        seed: 42,
        ..Default::default()
    };
    print!("{}", prompt);
    let mut stream = model.stream(&prompt, &opts)?;
    for chunk in stream.by_ref() {
        print!("{}", chunk?);
        std::io::stdout().flush().ok();
    }
    let result = stream.result().expect("a finished stream has its result");
    println!("\n[{}, {} tokens]", result.stop_reason, result.tokens.len());
    // Beam search with the same Rust processor on every beam: the two best of 4 beams.
    let beam_opts = GenerateOptions {
        samplers: Some(format!("ban_letters(letters=\"{}\") greedy", letters)),
        max_new_tokens: 40,
        num_beams: 4,
        num_return_sequences: 2,
        beam_scorers: Some("length_penalty(alpha=1.2)".into()),
        ..Default::default()
    };
    let beams = model.generate(&prompt, &beam_opts)?;
    for (i, s) in beams.sequences.iter().enumerate() {
        println!("[beam {}, score {:.4}, {}] {:?}", i, s.score, s.stop_reason, s.text);
    }
    let texts = std::iter::once(&result.text).chain(beams.sequences.iter().map(|s| &s.text));
    if texts.flat_map(|t| t.chars()).any(|ch| letters.contains(ch)) {
        eprintln!("a banned letter came out");
        std::process::exit(1);
    }
    Ok(())
}
