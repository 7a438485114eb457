//! What a processor written in Rust costs per token inside a sampler chain:
//! tg_chain_sample + accept over random logits for "greedy", "rs_noop greedy" and "rs_ban greedy"
//! (reads every live id, drops one), n_vocab 65 and 50257. A benchmark, never a test.
//!
//!     cargo run --release --example processor_cost
use std::time::Instant;

use textgen::{sys, Candidates, Chain, Processor, ProcessorDef, Step};

struct Noop;
impl Processor for Noop {
    fn apply(&mut self, _c: &mut Candidates<'_>, _s: &Step<'_>) -> textgen::Result<()> {
        Ok(())
    }
}

struct Ban;
impl Processor for Ban {
    fn apply(&mut self, c: &mut Candidates<'_>, _s: &Step<'_>) -> textgen::Result<()> {
        c.retain(|id, _| id != 7)
    }
}

fn per_token_us(spec: &str, n_vocab: i32, logits: &[Vec<f32>], steps: usize) -> f64 {
    let mut chain = Chain::parse_vocab(spec, n_vocab, 0).unwrap();
    let t0 = Instant::now();
    for k in 0..steps {
        let tok = chain.sample(&logits[k % logits.len()]).unwrap();
        chain.accept(tok).unwrap();
    }
    t0.elapsed().as_secs_f64() * 1e6 / steps as f64
}

fn main() {
    for (name, kind, make) in
        [("rs_noop", sys::TG_PROC_TRANSFORM, 0), ("rs_ban", sys::TG_PROC_FILTER, 1)]
    {
        textgen::register_processor(ProcessorDef {
            name: name.into(),
            kind,
            doc: "benchmark".into(),
            params: vec![],
            create: Box::new(move |_, _| {
                Ok(if make == 0 { Box::new(Noop) as Box<dyn Processor> } else { Box::new(Ban) })
            }),
        })
        .unwrap();
    }
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 12.0
    };
    for (n_vocab, steps) in [(65, 20000), (50257, 2000)] {
        let logits: Vec<Vec<f32>> =
            (0..4).map(|_| (0..n_vocab).map(|_| next()).collect()).collect();
        let base = per_token_us("greedy", n_vocab, &logits, steps);
        for spec in ["rs_noop greedy", "rs_ban greedy"] {
            let t = per_token_us(spec, n_vocab, &logits, steps);
            println!(
                "n_vocab {:6}  {:<16} {:9.2} us/token (+{:.2} us over greedy's {:.2})",
                n_vocab,
                spec,
                t,
                t - base,
                base
            );
        }
    }
}
