// Encode throughput of js-tiktoken (pure JS) and tiktoken (Rust compiled to WASM), encoding
// "gpt2", one thread, on the given text files. Prints one line per (library, file):
//   <library> <file> bytes=<n> tokens=<n> median_s=<s> mb_per_s=<MB/s> runs=<r>
// Usage: node bench.mjs RUNS FILE...
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { getEncoding } from "js-tiktoken";
import { get_encoding } from "tiktoken";

const runs = Number(process.argv[2] || 7);
const files = process.argv.slice(3);
const js = getEncoding("gpt2");
const wasm = get_encoding("gpt2");
const libs = [
  ["js-tiktoken", (t) => js.encode(t, [], []).length],
  ["tiktoken-wasm", (t) => wasm.encode_ordinary(t).length],
];
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const bytes = Buffer.byteLength(text, "utf8");
  for (const [name, enc] of libs) {
    let n = enc(text); // warm-up (JIT, caches)
    const times = [];
    for (let r = 0; r < runs; r++) {
      const t0 = process.hrtime.bigint();
      n = enc(text);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(runs / 2)];
    console.log(`${name} ${basename(file)} bytes=${bytes} tokens=${n} median_s=${med.toFixed(4)} mb_per_s=${(bytes / med / 1e6).toFixed(2)} runs=${runs}`);
  }
}
wasm.free();
