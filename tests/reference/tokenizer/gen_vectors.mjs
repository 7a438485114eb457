// Generates tests/data/tokenizer/gpt2_vectors.json: GPT-2 reference token ids computed by the
// npm package js-tiktoken (encoding "gpt2"), an implementation libtextgen's authors did not
// write. The C test suite reads the committed file; npm is needed only to regenerate it:
//
//   cd tests/reference/tokenizer && npm ci && node gen_vectors.mjs
//
// The corpus (corpus.mjs) is deterministic (fixed-seed PRNG): English prose from tiny
// Shakespeare, code, numbers, whitespace runs, tabs/newlines, contractions in all cases, accents,
// CJK, emoji with ZWJ and skin tones, RTL scripts, combining marks, and random mixtures of all of
// them.
//
// Excluded on purpose: lone surrogates (not Unicode text), U+0000 (the JSON reader keeps C
// strings), and U+0085 / U+FEFF, the only two characters on which JavaScript's `\s` differs
// from the Unicode White_Space property that GPT-2's own regex (Python `regex`), tiktoken (Rust)
// and Hugging Face tokenizers (Oniguruma) use; libtextgen follows White_Space, and its unit
// tests check those two characters separately.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { getEncoding } from "js-tiktoken";
import { dataDir, gpt2Cases } from "./corpus.mjs";

const enc = getEncoding("gpt2");
const cases = gpt2Cases();

// --- filter and compute ---
const bad = /[\u0000\u0085\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const seen = new Set();
const out = [];
for (const c of cases) {
  if (c.text.length === 0 || bad.test(c.text)) continue;
  const key = (c.special ? "1" : "0") + c.text;
  if (seen.has(key)) continue;
  seen.add(key);
  const ids = c.special ? enc.encode(c.text, "all", []) : enc.encode(c.text, [], []);
  const rec = { text: c.text, ids };
  if (c.special) rec.allow_special = true;
  out.push(rec);
}
// Sanity: the published test vectors of tiktoken and gpt-3-encoder.
const known = [["hello world", [31373, 995]], [" ", [220]], ["\t", [197]], ["This is some text", [1212, 318, 617, 2420]],
  ["indivisible", [521, 452, 12843]], ["hello 👋 world 🌍", [31373, 50169, 233, 995, 12520, 234, 235]]];
for (const [t, ids] of known)
  if (JSON.stringify(enc.encode(t)) !== JSON.stringify(ids)) throw new Error(`js-tiktoken disagrees on ${t}`);

const file = join(dataDir, "gpt2_vectors.json");
const meta = {
  generator: "tests/reference/tokenizer/gen_vectors.mjs",
  reference: "npm js-tiktoken 1.0.21, getEncoding(\"gpt2\")",
  count: out.length,
};
writeFileSync(file, JSON.stringify({ meta, cases: out }, null, 0).replace(/\},\{"text"/g, '},\n{"text"') + "\n");
console.log(`wrote ${file}: ${out.length} cases`);
