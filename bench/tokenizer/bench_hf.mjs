// Encode throughput of npm @huggingface/tokenizers (Hugging Face's JavaScript tokenizers, used by
// transformers.js), one thread, for the tokenizer.json folders given, on the given text files.
// Prints one line per (tokenizer, file), as bench_tokenizer does:
//   hf-js/<name> <file> bytes=<n> tokens=<n> median_s=<s> mb_per_s=<MB/s> runs=<r> load_s=<s>
// Special tokens are not looked for in the text (as libtextgen encodes without
// TG_ENCODE_ALLOW_SPECIAL). A tokenizer whose first encode takes over 10 s (the SentencePiece
// one: its whole text is one word) is timed by that run alone (runs=1).
// Usage: node bench_hf.mjs RUNS DIR... -- FILE...
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const runs = Number(process.argv[2] || 7);
const rest = process.argv.slice(3);
const sep = rest.indexOf("--");
const dirs = rest.slice(0, sep), files = rest.slice(sep + 1);
for (const dir of dirs) {
  const t0 = process.hrtime.bigint();
  const tok = new Tokenizer(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
    JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")));
  const load = Number(process.hrtime.bigint() - t0) / 1e9;
  // no special tokens in the text (as gen_hf_vectors.mjs does for its plain instances)
  const Splitter = Object.getPrototypeOf(tok.splitter_unnormalized).constructor;
  const raw = [], norm = [];
  for (const t of tok.added_tokens) {
    if (t.special) {
      tok.added_tokens_map.delete(t.content);
      continue;
    }
    if (t.normalized && tok.normalizer !== null) norm.push(tok.normalizer(t.content));
    else raw.push(t.content);
  }
  tok.splitter_unnormalized = new Splitter(raw);
  tok.splitter_normalized = new Splitter(norm);
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const bytes = Buffer.byteLength(text, "utf8");
    const enc = (t) => tok.encode(t, { add_special_tokens: false }).ids.length;
    const t1 = process.hrtime.bigint();
    let n = enc(text); // warm-up (JIT, caches)
    const first = Number(process.hrtime.bigint() - t1) / 1e9;
    const times = first > 10 ? [first] : [];
    for (let r = 0; r < runs && first <= 10; r++) {
      const t1 = process.hrtime.bigint();
      n = enc(text);
      times.push(Number(process.hrtime.bigint() - t1) / 1e9);
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)];
    console.log(`hf-js/${basename(dir)} ${basename(file)} bytes=${bytes} tokens=${n} median_s=${med.toFixed(4)} mb_per_s=${(bytes / med / 1e6).toFixed(2)} runs=${times.length} load_s=${load.toFixed(3)}`);
  }
}
