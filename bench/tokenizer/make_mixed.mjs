// Writes a mixed-script benchmark text (deterministic): every non-Shakespeare string of the GPT-2
// test vectors (code, numbers, whitespace, accents, CJK, RTL, emoji, combining marks, random
// mixtures), repeated until the file holds about 1 MB. Usage: node make_mixed.mjs OUT
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const v = JSON.parse(readFileSync(join(here, "..", "..", "tests", "data", "tokenizer", "gpt2_vectors.json"), "utf8"));
const shakespeare = readFileSync(join(here, "..", "..", "tests", "data", "tokenizer", "shakespeare.txt"), "utf8");
const parts = v.cases.filter((c) => !c.allow_special && !shakespeare.includes(c.text)).map((c) => c.text);
let out = "";
while (Buffer.byteLength(out) < 1_000_000) out += parts.join("\n") + "\n";
writeFileSync(process.argv[2], out);
