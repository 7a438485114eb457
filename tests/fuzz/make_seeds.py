#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/seed-*) from the test
data: real files, cut down where they are big, and broken variants of each. Python standard
library only. The chain_restore seeds are real snapshots written by make_restore_seeds.c.

    tests/fuzz/make_seeds.py            # rewrite every seed-* file (other corpus files stay)

Files that `bench/fuzz.sh` merges into a corpus are named by their hash and are left alone."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
CORPUS = os.path.join(HERE, "corpus")

MODELS = ["char_tiny", "hf_bf16", "hf_f16", "nobias", "hf_prefix_erf", "gelu_pytorch_tanh",
          "hf_tanh_bias"]  # same order as fuzz_safetensors.c


def read(*rel):
    with open(os.path.join(DATA, *rel), "rb") as f:
        return f.read()


def dumps(obj):
    return json.dumps(obj, indent=1, ensure_ascii=False).encode()


def clear_seeds(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for n in os.listdir(d):
        if n.startswith("seed-"):
            os.remove(os.path.join(d, n))
    return d


def write(target, name, data):
    with open(os.path.join(CORPUS, target, "seed-" + name), "wb") as f:
        f.write(data)


def safetensors_header(model):
    d = read("models", model, "model.safetensors")
    n = struct.unpack("<Q", d[:8])[0]
    return d[8:8 + n]


def seeds_safetensors():
    t = "safetensors"
    clear_seeds(t)
    for i, m in enumerate(MODELS):
        write(t, "real-" + m, bytes([i]) + safetensors_header(m))
    hdr = json.loads(safetensors_header("char_tiny"))
    names = [k for k in hdr if k != "__metadata__"]
    first, second, last = names[0], names[1], names[-1]

    def variant(name, edit, flag=0):
        h = json.loads(json.dumps(hdr))
        edit(h)
        write(t, name, bytes([flag]) + json.dumps(h).encode())

    variant("offsets-past-end", lambda h: h[last]["data_offsets"].__setitem__(1, h[last]["data_offsets"][1] + 4))
    variant("overlap", lambda h: h[second]["data_offsets"].__setitem__(0, h[second]["data_offsets"][0] - 4))
    variant("negative-offset", lambda h: h[first]["data_offsets"].__setitem__(0, -8))
    variant("end-before-begin", lambda h: h[first].__setitem__("data_offsets", [64, 0]))
    variant("dtype-unknown", lambda h: h[second].__setitem__("dtype", "F33"))
    variant("dtype-int", lambda h: h["wpe.weight"].__setitem__("dtype", "I32"))
    variant("dtype-f16-for-f32", lambda h: h[second].__setitem__("dtype", "F16"))
    variant("shape-huge", lambda h: h[second].__setitem__("shape", [2 ** 62, 2 ** 62]))
    variant("shape-wrong", lambda h: h[second].__setitem__("shape", [h[second]["shape"][0] + 1]))
    variant("shape-5d", lambda h: h[second].__setitem__("shape", [1, 1, 1, 1] + h[second]["shape"]))
    variant("shape-float", lambda h: h[second].__setitem__("shape", [1.5]))
    variant("missing-tensor", lambda h: h.pop("wte.weight", None) or h.pop("transformer.wte.weight", None))
    variant("metadata-not-strings", lambda h: h.__setitem__("__metadata__", {"a": [[[1]]], "b": None}))
    variant("entry-not-object", lambda h: h.__setitem__(second, [1, 2]))
    # text-level variants
    text = safetensors_header("char_tiny")
    write(t, "truncated-header", b"\x00" + text[: len(text) // 2])
    write(t, "duplicate-key", b"\x00" + text.replace(b"{", b'{"' + first.encode() + b'": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, ', 1))
    write(t, "not-an-object", b"\x00[]")
    write(t, "deep", b"\x00" + b'{"__metadata__": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}")
    # raw mode (flag 8): the length field is part of the input and lies
    write(t, "raw-length-huge", b"\x08" + struct.pack("<Q", 2 ** 63) + text)
    write(t, "raw-length-zero", b"\x08" + struct.pack("<Q", 0) + text)
    write(t, "raw-length-short", b"\x08" + struct.pack("<Q", 7))
    # truncated data section (flag 16, drop (flag >> 5) + 1 = 4 bytes)
    write(t, "data-truncated", bytes([16 | (3 << 5)]) + text)


def crashers():
    """Inputs that break an invariant today: reported defects, kept out of the replayed corpus
    (tests/fuzz/crashers/README.md says which defect each shows)."""
    d = os.path.join(HERE, "crashers", "safetensors")
    os.makedirs(d, exist_ok=True)
    hdr = json.loads(safetensors_header("char_tiny"))
    hdr["h.0.attn.c_attn.bias"]["dtype"] = "I32"  # read as a buffer: layer 0 loses its bias
    with open(os.path.join(d, "c_attn-bias-not-float"), "wb") as f:
        f.write(b"\x00" + json.dumps(hdr).encode())


def seeds_config():
    t = "config"
    clear_seeds(t)
    real = read("models", "char_tiny", "config.json")
    write(t, "real", real)
    cfg = json.loads(real)

    def variant(name, edit):
        c = json.loads(json.dumps(cfg))
        edit(c)
        write(t, name, dumps(c))

    variant("fewer-layers", lambda c: c.__setitem__("n_layer", 1))
    variant("more-layers", lambda c: c.__setitem__("n_layer", 3))
    variant("n_embd-mismatch", lambda c: c.__setitem__("n_embd", 64))
    variant("n_head-not-dividing", lambda c: c.__setitem__("n_head", 5))
    variant("vocab-zero", lambda c: c.__setitem__("vocab_size", 0))
    variant("vocab-huge", lambda c: c.__setitem__("vocab_size", 2 ** 40))
    variant("positions-float", lambda c: c.__setitem__("n_positions", 96.5))
    variant("positions-string", lambda c: c.__setitem__("n_positions", "96"))
    variant("missing-vocab", lambda c: c.pop("vocab_size"))
    variant("aliases", lambda c: [c.pop(k) for k in ("n_embd", "n_layer", "n_head", "n_positions")] and c.update(
        hidden_size=48, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=96))
    variant("model-type-llama", lambda c: c.__setitem__("model_type", "llama"))
    variant("activation-relu", lambda c: c.__setitem__("activation_function", "relu"))
    variant("activation-erf", lambda c: c.__setitem__("activation_function", "gelu"))
    variant("eps-zero", lambda c: c.__setitem__("layer_norm_epsilon", 0))
    variant("eos-out-of-range", lambda c: c.__setitem__("eos_token_id", 97))
    variant("eos-list", lambda c: c.__setitem__("eos_token_id", [96, 3]))
    variant("bos-negative", lambda c: c.__setitem__("bos_token_id", -1))
    variant("n_inner-odd", lambda c: c.__setitem__("n_inner", 191))
    variant("all-null", lambda c: c.update({k: None for k in c}))
    write(t, "nan", real.replace(b'"n_embd": 48', b'"n_embd": NaN'))
    write(t, "huge-number", real.replace(b'"n_embd": 48', b'"n_embd": 1e400'))
    write(t, "duplicate-key", real.replace(b'"n_layer": 2', b'"n_layer": 2, "n_layer": 4'))
    write(t, "deep", b'{"x": ' + b"[" * 300 + b"]" * 300 + b"}")
    write(t, "not-an-object", b"[1, 2, 3]")
    write(t, "truncated", real[: len(real) // 2])
    write(t, "invalid-utf8", real.replace(b'"gpt2"', b'"gpt\xff2"'))


def seeds_generation_config():
    t = "generation_config"
    clear_seeds(t)
    real = read("models", "char_tiny", "generation_config.json")
    write(t, "real", real)
    cases = {
        "greedy": {"do_sample": False},
        "all-filters": {"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.8, "min_p": 0.05,
                        "typical_p": 0.9, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2,
                        "max_new_tokens": 5},
        "top_k-huge": {"do_sample": True, "top_k": 3e9},
        "top_k-fraction": {"do_sample": True, "top_k": 2.7},
        "top_p-two": {"do_sample": True, "top_p": 2},
        "temperature-tiny": {"do_sample": True, "temperature": 1e-40},
        "temperature-zero": {"do_sample": True, "temperature": 0},
        "eos-list": {"eos_token_id": [96, 0, 1]},
        "eos-out-of-range": {"eos_token_id": 97},
        "eos-mixed": {"eos_token_id": [1, "x"]},
        "penalty-zero": {"repetition_penalty": 0},
        "ngram-huge": {"no_repeat_ngram_size": 3e9},
        "max-new-zero": {"max_new_tokens": 0},
        "do_sample-string": {"do_sample": "yes"},
        "temperature-string": {"temperature": "hot", "do_sample": True},
        "nulls": {"do_sample": None, "temperature": None, "top_k": None, "eos_token_id": None},
    }
    for name, obj in cases.items():
        write(t, name, dumps(obj))
    write(t, "nan", b'{"do_sample": true, "temperature": NaN}')
    write(t, "duplicate-key", b'{"top_k": 5, "top_k": 6}')
    write(t, "deep", b'{"x": ' + b"[" * 300 + b"]" * 300 + b"}")
    write(t, "empty", b"")
    write(t, "not-an-object", b'"greedy"')


def small_byte_level(n_merges=64):
    """A byte-level BPE cut from GPT-2: the 256 byte tokens and the first n_merges merges."""
    vocab = json.loads(read("tokenizer", "gpt2", "vocab.json"))
    merges = read("tokenizer", "gpt2", "merges.txt").decode().split("\n")[1:1 + n_merges]
    small = {k: v for k, v in vocab.items() if v < 256}
    for m in merges:
        a, b = m.split(" ")
        if a + b not in small:
            small[a + b] = len(small)
    return small, merges


def seeds_tokenizer_json():
    t = "tokenizer_json"
    clear_seeds(t)
    real = read("models", "char_tiny", "tokenizer.json")
    write(t, "char-real", real)
    vocab, merges = small_byte_level()
    eot = len(vocab)
    base = {
        "version": "1.0",
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab, "merges": merges},
    }
    write(t, "byte-level", dumps(base))
    write(t, "byte-level-with-config", dumps(base) + b"\x00" + dumps(
        {"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>"}}))
    write(t, "config-unknown-token", dumps(base) + b"\x00" + dumps({"eos_token": "<|nope|>"}))

    def variant(name, edit):
        b = json.loads(json.dumps(base))
        edit(b)
        write(t, name, dumps(b))

    variant("merges-as-pairs", lambda b: b["model"].__setitem__("merges", [m.split(" ") for m in merges]))
    variant("id-out-of-range", lambda b: b["model"]["vocab"].__setitem__("!", 10 ** 9))
    variant("id-negative", lambda b: b["model"]["vocab"].__setitem__("!", -1))
    variant("duplicate-id", lambda b: b["model"]["vocab"].__setitem__("!", 1))
    variant("merge-unknown-token", lambda b: b["model"]["merges"].append("Ġ zzzz"))
    variant("merge-three-parts", lambda b: b["model"]["merges"].append("a b c"))
    variant("added-collides", lambda b: b["added_tokens"].append({"id": 3, "content": "xyz", "special": True}))
    variant("added-no-content", lambda b: b["added_tokens"].append({"id": eot + 1}))
    variant("wordpiece", lambda b: b["model"].__setitem__("type", "WordPiece"))
    variant("byte-fallback", lambda b: b["model"].__setitem__("byte_fallback", True))
    variant("normalizer-nfc", lambda b: b.__setitem__("normalizer", {"type": "NFC"}))
    variant("unk-missing", lambda b: b["model"].__setitem__("unk_token", "<unk>"))
    variant("vocab-empty", lambda b: b["model"].__setitem__("vocab", {}))
    variant("vocab-array", lambda b: b["model"].__setitem__("vocab", [1, 2]))
    variant("no-byte-tokens", lambda b: [b["model"]["vocab"].pop(k) for k in list(b["model"]["vocab"])[:40]])
    variant("empty-token", lambda b: b["model"]["vocab"].__setitem__("", eot + 2))
    write(t, "duplicate-key", dumps(base).replace(b'"vocab": {', b'"vocab": {"a": 64, ', 1))
    write(t, "deep", b'{"model": ' + b"[" * 300 + b"]" * 300 + b"}")
    write(t, "truncated", dumps(base)[:900])


def seeds_vocab_merges():
    t = "vocab_merges"
    clear_seeds(t)
    vocab, merges = small_byte_level()
    merges_txt = ("#version: 0.2\n" + "\n".join(merges) + "\n").encode()
    write(t, "small", dumps(vocab) + b"\x00" + merges_txt)
    write(t, "no-version-line", dumps(vocab) + b"\x00" + "\n".join(merges).encode())
    write(t, "no-merges", dumps(vocab))
    write(t, "crlf", dumps(vocab) + b"\x00" + merges_txt.replace(b"\n", b"\r\n"))
    write(t, "three-parts", dumps(vocab) + b"\x00" + merges_txt + b"a b c\n")
    write(t, "unknown-token", dumps(vocab) + b"\x00" + merges_txt + "zz Ġ\n".encode())
    write(t, "double-space", dumps(vocab) + b"\x00" + merges_txt + b"a  b\n")
    write(t, "nul-in-merges", dumps(vocab) + b"\x00" + merges_txt + b"a\x00b\n")
    write(t, "invalid-utf8", dumps(vocab) + b"\x00" + merges_txt + b"\xff \xfe\n")
    bad = dict(vocab)
    bad["!"] = 5
    write(t, "duplicate-id", dumps(bad) + b"\x00" + merges_txt)
    bad = dict(vocab)
    bad["!"] = 2 ** 31
    write(t, "id-huge", dumps(bad) + b"\x00" + merges_txt)
    write(t, "vocab-array", b"[1, 2]\x00" + merges_txt)
    write(t, "vocab-empty", b"{}\x00")


SPECS = {
    "readme": 'repetition_penalty(penalty=1.2, last_n=64) top_k(k=40) top_p(p=0.9) temperature(t=0.8) dist(seed=42)',
    "greedy": "greedy",
    "all-filters": "min_p(p=0.05, min_keep=2) typical(p=0.9) top_n_sigma(n=1.5) xtc(probability=0.5, threshold=0.1) dist",
    "penalties": "frequency_penalty(penalty=0.5, last_n=16, include_prompt=true) presence_penalty(penalty=-0.5) repetition_penalty(penalty=0.9, last_n=-1, include_prompt=false) greedy",
    "dry": 'dry(multiplier=0.8, base=1.75, allowed_length=2, last_n=-1, breakers="\\n|:|\\"|*") dist',
    "ids": 'bad_words(ids="1 2; 3; 4 5 6") no_repeat_ngram(n=2) min_new_tokens(n=3) greedy',
    "logit-bias": 'logit_bias(bias="1:-inf 2:+3.5 96:-100") temperature(t=0) dist',
    "mirostat": "top_k(k=0) mirostat_v2(tau=5, eta=0.1)",
    "commas": "top_k(k=3),temperature(t=1.5),dist",
    "temperature-tiny": "temperature(t=1e-40) dist",
    "xtc-zero": 'logit_bias(bias="0:-inf") xtc(threshold=0, probability=1) dist',
    "unknown": "topp(p=0.9) dist",
    "unknown-param": "top_k(p=0.9) dist",
    "out-of-range": "top_p(p=1.5) dist",
    "two-selectors": "greedy dist",
    "no-selector": "top_k(k=4)",
    "selector-not-last": "greedy top_k(k=3)",
    "unterminated": 'logit_bias(bias="1:2',
    "nan": "temperature(t=nan) dist",
    "inf": "temperature(t=inf) dist",
    "empty-parens": "top_k() greedy",
    "repeat-param": "top_k(k=1, k=2) greedy",
    "deep-parens": "top_k((((k=1)))) greedy",
    "huge-int": "top_k(k=99999999999999999999999) greedy",
    "negative-zero": "top_n_sigma(n=-0) greedy",
    "quoted-escapes": 'dry(breakers="a\\\\b|\\"c\\"|\\q") greedy',
    "non-utf8": "top_k(k=1) gr\xffeedy",
    "empty": "",
}

CHAIN_FILES = {
    "docs": "[chain]\nseed=42\n\n[stage repetition_penalty]\npenalty=1.2\nlast_n=64\n\n[stage top_k]\nk=40\n\n[stage top_p]\np=0.9\n\n[stage dist]\n",
    "repeat": "[stage top_k]\nk=50\n\n[stage top_k #2]\nk=5\n\n[stage greedy]\n",
    "ids": '[stage bad_words]\nids=1 2; 3\n\n[stage logit_bias]\nbias=4:-inf 5:1.5\n\n[stage mirostat_v2]\ntau=4\n',
    "comments": "# a comment\n[chain]\n# seed below\nseed=7\n[stage greedy]\n",
    "bad-seed": "[chain]\nseed=-1\n[stage greedy]\n",
    "seed-huge": "[chain]\nseed=999999999999999999999999\n[stage greedy]\n",
    "bad-group": "[stages top_k]\nk=3\n[stage greedy]\n",
    "unknown-key": "[stage top_k]\nkk=3\n[stage greedy]\n",
    "unknown-stage": "[stage topk]\n[stage greedy]\n",
    "no-selector": "[stage top_k]\nk=3\n",
    "after-selector": "[stage greedy]\n[stage top_k]\nk=3\n",
    "duplicate-group": "[stage top_k]\nk=3\n[stage top_k]\nk=4\n[stage greedy]\n",
    "duplicate-key": "[stage top_k]\nk=3\nk=4\n[stage greedy]\n",
    "no-group": "k=3\n",
    "locale-key": "[stage top_k]\nk[de]=3\n[stage greedy]\n",
    "escapes": "[stage dry]\nbreakers=\\n|\\t|\\s|\\\\\n[stage greedy]\n",
    "non-utf8": "[stage top_k]\nk=\xff\n[stage greedy]\n",
    "empty": "",
}


def seeds_text(target, table):
    clear_seeds(target)
    for name, text in table.items():
        write(target, name, text.encode("latin-1") if "\xff" in text else text.encode())


def seeds_tokenizer():
    t = "tokenizer"
    clear_seeds(t)
    texts = {"ascii": b"Hello, world! 123", "shakespeare": b"ROMEO:\nBut soft, what light through yonder window breaks?",
             "utf8": "h\u00e9llo \u2713 \u65e5\u672c \U0001F600".encode(), "invalid-utf8": b"\xff\xfe a\x80 \xc3",
             "special": b"<|endoftext|>x<|endoftext|>", "spaces": b"  \t\n\n   x  "}
    for name, text in texts.items():
        write(t, "encode-" + name, b"\x00" + text)
    ids = [15496, 11, 995, 0, 50256, 50257, 50264, 2 ** 31 - 1, 220, 198, 447, 247]
    write(t, "ids", b"\x01" + struct.pack("<%di" % len(ids), *ids))
    write(t, "ids-split-utf8", b"\x01" + struct.pack("<4i", 171, 254, 232, 220))
    write(t, "load-char", b"\x02" + read("models", "char_tiny", "tokenizer.json"))


def main():
    seeds_safetensors()
    seeds_config()
    seeds_generation_config()
    seeds_tokenizer_json()
    seeds_vocab_merges()
    seeds_text("chain_spec", SPECS)
    seeds_text("chain_file", CHAIN_FILES)
    seeds_tokenizer()
    crashers()
    os.makedirs(os.path.join(CORPUS, "chain_restore"), exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
