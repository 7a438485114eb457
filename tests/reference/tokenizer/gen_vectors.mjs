// Generates tests/data/tokenizer/gpt2_vectors.json: GPT-2 reference token ids computed by the
// npm package js-tiktoken (encoding "gpt2"), an implementation libtextgen's authors did not
// write. The C test suite reads the committed file; npm is needed only to regenerate it:
//
//   cd tests/reference/tokenizer && npm ci && node gen_vectors.mjs
//
// The corpus is deterministic (fixed-seed PRNG): English prose from tiny Shakespeare, code,
// numbers, whitespace runs, tabs/newlines, contractions in all cases, accents, CJK, emoji with
// ZWJ and skin tones, RTL scripts, combining marks, and random mixtures of all of them.
//
// Excluded on purpose: lone surrogates (not Unicode text), U+0000 (the JSON reader keeps C
// strings), and U+0085 / U+FEFF, the only two characters on which JavaScript's `\s` differs
// from the Unicode White_Space property that GPT-2's own regex (Python `regex`), tiktoken (Rust)
// and Hugging Face tokenizers (Oniguruma) use; libtextgen follows White_Space, and its unit
// tests check those two characters separately.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getEncoding } from "js-tiktoken";

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, "..", "..", "data", "tokenizer");
const enc = getEncoding("gpt2");

// --- deterministic PRNG (mulberry32) ---
let seed = 0x5eed1234;
function rand() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rand() * n);
const pick = (a) => a[ri(a.length)];

const cases = []; // {text, special?}
const add = (text, special = false) => cases.push({ text, special });

// --- 1. Shakespeare: lines, paragraphs, random spans ---
const shakespeare = readFileSync(join(dataDir, "shakespeare.txt"), "utf8");
const lines = shakespeare.split("\n").filter((l) => l.length > 0);
for (let i = 0; i < 500; i++) add(pick(lines));
const paragraphs = shakespeare.split("\n\n");
for (let i = 0; i < 200; i++) add(pick(paragraphs) + (rand() < 0.5 ? "\n\n" : "\n"));
for (let i = 0; i < 200; i++) {
  const start = ri(shakespeare.length - 2000);
  add(shakespeare.slice(start, start + 1 + ri(1500)));
}
for (let i = 0; i < 50; i++) add(pick(lines).toUpperCase());
for (let i = 0; i < 50; i++) add(pick(lines).toLowerCase().replace(/ /g, "  "));

// --- 2. code ---
const code = [
  "int main(int argc, char **argv)\n{\n    printf(\"hello, world\\n\");\n    return 0;\n}\n",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "for (let i = 0; i < arr.length; i++) {\n\tconsole.log(`${i}: ${arr[i]}`);\n}\n",
  '{"name": "libtextgen", "version": "0.1.0", "deps": ["glib", "json-glib"], "ok": true}',
  "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%smith%' ORDER BY id DESC;",
  "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\nstatic const char *s = \"x\";",
  "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![1, 2, 3];\n    Ok(())\n}",
  "    if (x != NULL && x->next) {\n        x = x->next; // advance\n    }\n",
  "<html>\n  <body class=\"main\">\n    <p>Hello &amp; welcome!</p>\n  </body>\n</html>",
  "$ ls -la /usr/local/bin | grep -E '^-rwx' > out.txt 2>&1 && echo done",
  "x = [i**2 for i in range(10) if i % 2 == 0]  # squares\nprint(x[::-1])",
  "a+=b;c-=d;e*=f;g/=h;i%=j;k<<=1;l>>=2;m&=n;o|=p;q^=r;",
  "\t\tcase 'a':\n\t\t\treturn 1;\n\t\tdefault:\n\t\t\tbreak;\n",
  "std::vector<std::pair<int, std::string>> v{{1, \"one\"}, {2, \"two\"}};",
  "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
  "@decorator\nclass Foo(Bar, metaclass=Meta):\n    __slots__ = ('a', 'b')\n",
  "https://example.com/path/to/page?query=1&other=two#section-3",
  "user@example.org, first.last+tag@sub.domain.co.uk",
  "C:\\Program Files\\App\\bin\\app.exe --flag=value -v -o ./out/",
  "toString constructor hasOwnProperty valueOf __proto__ prototype",
];
for (const c of code) add(c);
const idents = ["foo", "bar_baz", "camelCase", "snake_case_name", "HTTPServer", "x1", "_priv", "__init__", "getElementById", "i", "j"];
const ops = [" = ", " == ", " != ", "->", ".", "::", "(", ")", "[", "]", "{", "}", ";", ", ", " + ", " && ", " || ", "++", "--", " => "];
for (let i = 0; i < 120; i++) {
  let s = " ".repeat(ri(3) * 4);
  const n = 3 + ri(15);
  for (let k = 0; k < n; k++) s += rand() < 0.5 ? pick(idents) : rand() < 0.7 ? pick(ops) : String(ri(100000));
  if (rand() < 0.5) s += ";\n";
  add(s);
}

// --- 3. numbers ---
for (let len = 1; len <= 40; len++) add("0".repeat(len));
for (let len = 1; len <= 30; len++) add("3".repeat(len));
for (let i = 0; i < 120; i++) {
  const kind = ri(8);
  let s;
  if (kind === 0) s = String(ri(1e9));
  else if (kind === 1) s = (rand() * 1e6).toFixed(ri(8));
  else if (kind === 2) s = `${ri(10000)}-${ri(100)}-${ri(10000)}`;
  else if (kind === 3) s = `+1 (${100 + ri(900)}) ${100 + ri(900)}-${1000 + ri(9000)}`;
  else if (kind === 4) s = `${ri(13)}/${ri(32)}/${1900 + ri(200)} ${ri(24)}:${String(ri(60)).padStart(2, "0")}`;
  else if (kind === 5) s = `${(rand() * 10).toExponential(ri(6))} ${-ri(1000)} 0x${ri(0xffffff).toString(16)}`;
  else if (kind === 6) s = `$${ri(1000000).toLocaleString("en-US")}.${String(ri(100)).padStart(2, "0")} (${ri(100)}%)`;
  else s = Array.from({ length: 1 + ri(12) }, () => ri(1000)).join(rand() < 0.5 ? "," : " ");
  add(s);
}
for (const s of ["٠١٢٣٤٥٦٧٨٩ and ۰۱۲۳", "０１２３４５ full width", "x² + y³ = z¹⁰", "½ ¼ ¾ ⅓ ⅞", "Ⅻ Ⅳ ⅷ roman",
  "१२३ देवनागरी", "๑๒๓ ไทย", "①②③ circled", "𝟙𝟚𝟛 math digits", "3.14159265358979323846264338327950288"])
  add(s);

// --- 4. whitespace ---
const wsChars = [" ", "\t", "\n", "\r\n", "\r", "\u000b", "\u000c", "\u00a0", "\u2003", "\u3000", "\u2028", "\u2029", "\u1680", "\u202f", "\u205f", "\u2009"];
for (let n = 1; n <= 64; n++) add(" ".repeat(n));
for (const n of [100, 127, 128, 129, 200, 256, 300, 500, 1000]) add(" ".repeat(n));
for (const n of [100, 300, 1000]) add("x" + " ".repeat(n) + "y");
for (let n = 1; n <= 20; n++) add("\n".repeat(n));
for (let n = 1; n <= 20; n++) add("\t".repeat(n));
for (let i = 0; i < 200; i++) {
  let s = "";
  const n = 1 + ri(8);
  for (let k = 0; k < n; k++) {
    s += Array.from({ length: 1 + ri(6) }, () => pick(wsChars)).join("");
    if (rand() < 0.8) s += pick(["word", "Hello", "42", "!?", "über", "日本", "'s", "x", "—", "🙂"]);
  }
  add(s);
}
add("Hello there       dear");
add("    Hello\n    Hello");
add("   ");
add("\n");
add("\n\n");
add(" \n \n ");
add("a\t\tb\t\n\tc");
add("line one\r\nline two\r\n\r\nline four");

// --- 5. contractions in all cases ---
const contr = ["s", "t", "re", "ve", "m", "ll", "d"];
const caseVariants = (s) => {
  const out = new Set([s, s.toUpperCase()]);
  if (s.length === 2) { out.add(s[0].toUpperCase() + s[1]); out.add(s[0] + s[1].toUpperCase()); }
  return [...out];
};
for (const c of contr)
  for (const v of caseVariants(c))
    for (const q of ["'", "’", "`"]) {
      add(`${q}${v}`);
      add(`it${q}${v} fine`);
      add(`IT${q}${v}`);
      add(` ${q}${v}`);
      add(`${q}${q}${v}`);
      add(`!${q}${v} ${q}${v}${q}${v}`);
    }
for (const s of ["I'm", "I'M", "you're", "YOU'RE", "You'Re", "we've", "WE'VE", "she'll", "SHE'LL", "He'd", "HE'D",
  "don't", "DON'T", "Don'T", "can't", "won't", "it's", "IT'S", "It'S", "y'all", "o'clock", "rock 'n' roll",
  "'tis", "'Twas", "the dogs' bones", "James's", "'s'", "'''", "'", "''", "' s", "'ss", "'lll", "'rere",
  "Let's see: they're, we'll, I'd, you've, she's, it'd've", "'S 'T 'RE 'VE 'M 'LL 'D", "'s't're've'm'll'd"])
  add(s);

// --- 6. accents, 7. CJK, 9. RTL, 10. combining marks ---
const intl = [
  "Café au lait, naïve façade, résumé, coöperate, jalapeño, São Paulo, Zürich, Kraków",
  "Führer", "Ærøskøbing", "Ğüşıöç İstanbul", "Việt Nam, tiếng Việt có dấu", "Łódź", "Crème brûlée",
  "e\u0301 vs \u00e9", "Cafe\u0301 nai\u0308ve", "A\u030a\u0301\u0302 stacked", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
  "ⓗⓔⓛⓛⓞ", "ﬁ ﬂ ligatures", "Ω ≈ ç √ ∫ ˜ µ ≤ ≥ ÷", "Ελληνικά: Καλημέρα κόσμε", "Русский текст: Съешь же ещё этих мягких французских булок",
  "中文文本：你好，世界！今天天气很好。", "日本語のテキスト：こんにちは世界、カタカナとひらがな。", "한국어 텍스트: 안녕하세요 세계", "混合 mixed テキスト 텍스트 text",
  "「引用」『二重』【括弧】", "漢字かなカナ１２３ＡＢＣ", "𠜎𠜱𠝹𠱓 rare CJK ext B",
  "العربية: مرحبا بالعالم ١٢٣", "עברית: שלום עולם 123", "mixed עברית and English", "\u200f\u200eRLM LRM marks\u202b embedding \u202c",
  "فارسی: سلام دنیا", "اردو میں خوش آمدید",
  "हिन्दी: नमस्ते दुनिया", "ภาษาไทย: สวัสดีชาวโลก", "ខ្មែរ ភាសា", "ქართული ენა", "Հայերեն", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ runes",
  "తెలుగు", "தமிழ்", "বাংলা", "ગુજરાતી", "ᄀᄁᄂ jamo 하\u11ab",
];
for (const s of intl) add(s);

// --- 8. emoji ---
const emoji = [
  "hello 👋 world 🌍", "👨‍👩‍👧‍👦 family", "👩🏽‍💻 technologist", "👍🏻👍🏼👍🏽👍🏾👍🏿", "🇫🇷🇯🇵🇺🇸 flags", "1️⃣ 2️⃣ #️⃣ keycaps",
  "❤️ ♥ ❤", "🏳️‍🌈 🏴‍☠️", "🧑‍🤝‍🧑", "😀😃😄😁😆😅🤣😂", "I ❤️ NY!", "👁️‍🗨️", "🤷‍♀️🤷🏾‍♂️", "✊🏿 ✋ 🖐️",
  "🫠🫡🫶 newer emoji", "emoji🙂inside🙃words", "🐍🦀🐹 languages",
];
for (const s of emoji) add(s);

// --- special-token text: plain text by default, a token when allowed ---
for (const s of ["<|endoftext|>", "hello <|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>",
  "<|endoftext", "endoftext|>", "< |endoftext| >", "x <|endoftext|>\n\ny", "<|endofprompt|>"]) {
  add(s, false);
  add(s, true);
}

// --- 11. random mixtures of every class ---
const pool = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", ..."0123456789", ..." .,;:!?'\"-()[]{}<>/\\@#$%^&*_=+|~`",
  " ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000",
  ..."éèêëàâäôöûüçñßøåæœ", "e\u0301", "a\u0308", "\u0301", "\u0308", "\u20dd",
  ..."中文字日本語한국어カタ", ..."αβγδΔΩ", ..."жзийк", ..."مرحب", ..."שלום", ..."नमस्ते", "ไทย",
  "👋", "🌍", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "\u200d", "\ufe0f", "🏿",
  "²", "½", "٣", "Ⅻ", "—", "…", "“", "”", "’", "€", "£", "¥", "©", "™", "°", "±", "×",
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "n't",
];
for (let i = 0; i < 600; i++) {
  const n = 1 + ri(rand() < 0.8 ? 30 : 200);
  let s = "";
  for (let k = 0; k < n; k++) s += pick(pool);
  add(s);
}
// Words in random scripts separated by random whitespace.
const words = ["the", "The", "THE", "quick", "brown", "fox", "jumps", "über", "naïve", "日本", "한국", "мир", "سلام", "שלום",
  "🙂", "42", "3.14", "x2", "A1B2", "it's", "DON'T", "—", "...", "!!!", "#tag", "@user"];
for (let i = 0; i < 200; i++) {
  let s = "";
  const n = 1 + ri(25);
  for (let k = 0; k < n; k++) s += pick(words) + pick([" ", " ", " ", "  ", "\n", "\t", "", " \n", "   "]);
  add(s);
}

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
