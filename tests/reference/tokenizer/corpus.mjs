// The test corpus shared by the reference generators (gen_vectors.mjs for GPT-2 with
// js-tiktoken, gen_hf_vectors.mjs for the Hugging Face tokenizers). Deterministic: a fixed-seed
// PRNG, reset on each call, so every generator sees the same strings in the same order.
//
// English prose from tiny Shakespeare, code, numbers, whitespace runs, tabs/newlines,
// contractions in all cases, accents, CJK, emoji with ZWJ and skin tones, RTL scripts, combining
// marks, special-token text, and random mixtures of all of them.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const dataDir = join(here, "..", "..", "data", "tokenizer");

let seed = 0;
function rand() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rand() * n);
const pick = (a) => a[ri(a.length)];

// The GPT-2 corpus: [{text, special}], `special` = encode with special tokens allowed.
export function gpt2Cases() {
  seed = 0x5eed1234;
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
  return cases;
}

// Extra strings for the Hugging Face tokenizers (Llama 3, Qwen3, the SentencePiece-style
// "llama2" vocabulary): their special tokens, text the NFC normalizer changes, the digit groups
// and \r\n rules of the Llama 3 / Qwen patterns, case-insensitive contractions, byte fallback,
// U+2581 and space runs for the SentencePiece normalizer, and U+0085 / U+FEFF (White_Space:
// the Split regexes say \s, which HF and libtextgen read as the White_Space property).
export function hfExtraCases() {
  seed = 0x7f4a11ce;
  const cases = [];
  const add = (text, special = false) => cases.push({ text, special });
  const both = (text) => {
    add(text, false);
    add(text, true);
  };
  // special and added tokens of the three tokenizers, as text and as tokens
  for (const s of [
    "<|begin_of_text|>Hello", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>",
    "<|start_header_id|>assistant<|end_header_id|>\n\n", "x<|reserved_special_token_5|>y", "<|end_of_text|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nLet me think.\n</think>\n\nThe answer is 42.", "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
    "<|endoftext|>", "a<|endoftext|>b", "<|im_end|><|im_end|>", "<|vision_start|><|image_pad|><|vision_end|>",
    "<s>[INST] What is 2+2? [/INST] 4</s>", "<s>", "</s>", "<unk>", "a<s>b", " <s> ", "x</s> y", "<s><s></s>",
    "  <s>  ", "\n<s>\n", "<s>hello", "hello<s>", "<|begin_of_text|> <|begin_of_text|>", "<think>", " </think> ",
    "<|im_start|>", "< |im_start| >", "<|im_start", "im_start|>", "<tool_call><tool_call>", "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
    // the added tokens of tests/data/tokenizer/tiny/bytelevel: lstrip, rstrip, normalized
    "a <mask> b", "a\t\n <mask>", "<mask><mask>", " <mask>", "x<|sep|>  y", "x<|sep|>\n\ny", "<|sep|> ", "fix it", "the \ufb01x is in", "\ufb01xed",
  ])
    both(s);
  // Unicode normalization: decomposed, compatibility and reordered forms
  for (const s of [
    "e\u0301", "Cafe\u0301", "A\u030a", "\u212b ngstrom", "\u2126 ohm", "\u1100\u1161\u11a8 jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af",
    "a\u0323\u0301 a\u0301\u0323", "q\u0307\u0323", "\u0041\u0308\u0304", "Vie\u0323\u0302t Nam", "\u1e9b\u0323", "ﬁ ﬂ ﬃ", "①②③ ½ ²",
    "\u00c5\u212b\u0041\u030a", "o\u0308\u0304 u\u0308\u0301", "\u0928\u093c \u0915\u093c", "\u05d1\u05bc\u05bf", "\u0627\u0653",
    "\u304b\u3099 \u30cf\u309a", "\uff76\uff9e half-width", "ｔｅｓｔ full-width", "\u2000\u2001 spaces", "\u1e0b\u0323 \u1e0d\u0307",
  ])
    add(s);
  // digits: groups of three (Llama 3), one by one (Qwen)
  for (let len = 1; len <= 20; len++) add("9".repeat(len));
  for (const s of ["1234567890123", "12,345.678", "3.14159", "1e10", "0x1F", "v1.2.3", "2024-01-31", "x123y4567z",
    "١٢٣٤٥", "۱۲۳۴", "१२३४५", "½¾", "①②③④", "Ⅻ12", "²³¹", "𝟙𝟚𝟛𝟜", "12 345 678", "+1-800-555-0199"])
    add(s);
  // \r and \n around other whitespace
  for (const s of ["a\r\nb", "a \r\n b", "\r\n\r\n", "x\r\r\n\ny", "  \n  \n", "abc   ", "abc\n", "   \n", " \t\n", "\n \n \n",
    "a\n\n\n\nb", "a\t\r\n\tb", "  x\r\n  y", "!!!\n\n", "...\r\n", "a \n", "a\u2028b\u2029c", "\r", "\r\r\r", " \r \r "])
    add(s);
  // contractions in every case (the Llama 3 / Qwen patterns ignore case)
  for (const s of ["I'M", "WE'VE", "YOU'RE", "SHE'LL", "HE'D", "IT'S", "DON'T", "i'M", "We'Ve", "'S", "'LL", "'Ll", "'lL",
    "x'S y'T", "'hello", "l'amour", "rock'n'roll", "''s", "'''", "'s's's"])
    add(s);
  // byte fallback and the SentencePiece normalizer
  for (const s of ["\u2581x", "\u2581\u2581", "a\u2581b", " \u2581 ", "  x", "x  ", "   ", " ", "\u0001\u0002\u0003", "\u007f\u0080\u009f",
    "𠀀𠀁𠀂", "𪛖 𫝀 𬺰", "\u{1F9D1}\u200D\u{1F680}", "\u{10348}\u{10349}", "\u{1D11E} clef", "\uE000\uF8FF private", "\u0600\u200B\u2060",
    "Ꙩꙩ Ꚛ", "ᏣᎳᎩ", "ꦗꦮ", "ⴰⵣⵓⵍ", "ᠮᠣᠩᠭᠣᠯ", "ꯃꯤꯇꯩ", "𐌰𐌱𐌲", "ߒߞߏ"])
    add(s);
  // White_Space characters the regexes must treat as \s (and two that are not)
  for (const s of ["a\u0085b", "a \u0085 b", "a\ufeffb", "\ufeffBOM", "a\u180eb", "a\u200bb", "x\u00a0\u00a0y", "x\u3000y\u3000",
    "\u0085\u0085", "word\u0085\n"])
    add(s);
  // random mixtures weighted to what the Llama 3 / Qwen patterns and NFC distinguish
  const pool = [..."abcXYZ", ..."0123456789", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "'s", "'S", "'ll", "'", "’",
    ..."!?.,;:-_()[]{}<>\"/\\@#$%^&*", "\u00a0", "\u0085", "\u3000", "e\u0301", "\u0301", "\u0308", "\u1100\u1161", "\u11a8",
    "é", "ñ", "ß", "中", "日本", "한", "Ω", "ж", "ع", "ש", "न", "ि", "👍", "👍🏽", "\u200d", "\ufe0f", "🇫🇷", "▁", "½", "٣", "①"];
  for (let i = 0; i < 200; i++) {
    const n = 1 + ri(rand() < 0.8 ? 25 : 120);
    let s = "";
    for (let k = 0; k < n; k++) s += pick(pool);
    add(s, rand() < 0.2);
  }
  const specials = ["<|begin_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<s>", "</s>", "<|endoftext|>"];
  for (let i = 0; i < 60; i++) {
    let s = "";
    const n = 1 + ri(8);
    for (let k = 0; k < n; k++) s += rand() < 0.4 ? pick(specials) : pick([" ", "\n", "hi", " there", "user", "x y", "  ", "42", "é"]);
    both(s);
  }
  return cases;
}
