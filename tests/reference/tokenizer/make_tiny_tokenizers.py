#!/usr/bin/env python3
"""Writes three small tokenizer.json folders under tests/data/tokenizer/tiny/, in the formats of
today's models, with BPE merges learned from tiny Shakespeare. They let the tests and the fuzzer
exercise every component without the big real files (gen_hf_vectors.mjs computes their
reference ids with npm @huggingface/tokenizers, like the real ones'):

  bytelevel/      Llama 3's Split regex + ByteLevel, an NFKC normalizer, added tokens special
                  and not, with lstrip / rstrip / normalized, Llama 3.1's post_processor
  sentencepiece/  Llama 2's normalizer (Prepend "▁", Replace " " -> "▁"), byte_fallback, unk,
                  fuse_unk, the Replace/ByteFallback/Fuse/Strip decoder, a <s> template
  metaspace/      a Metaspace pre-tokenizer (prepend_scheme "first"), no normalizer, byte
                  fallback, ignore_merges

Deterministic (no randomness): python3 tests/reference/tokenizer/make_tiny_tokenizers.py
"""
import collections
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data", "tokenizer")
OUT = os.path.join(DATA, "tiny")
SP = "\u2581"


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def learn_merges(words, n_merges):
    """Plain BPE training: words is {tuple of symbols: count}; returns the merges in order."""
    words = dict(words)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        joined = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            joined[tuple(out)] = joined.get(tuple(out), 0) + c
        words = joined
    return merges


def write(folder, tokenizer, config):
    d = os.path.join(OUT, folder)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
        f.write("\n")


def added(i, content, special, lstrip=False, rstrip=False, normalized=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def bytelevel(text):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: i for i, b in enumerate(sorted(b2u, key=lambda b: ord(b2u[b])))}
    words = collections.Counter(re.findall(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]+|\s+", text))
    merges = learn_merges({tuple(b2u[b] for b in w.encode()): c for w, c in words.items()}, 300)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    n = len(vocab)
    toks = [added(n, "<|begin_of_text|>", True), added(n + 1, "<|end_of_text|>", True),
            added(n + 2, "<|eot_id|>", True), added(n + 3, "<think>", False),
            added(n + 4, "<mask>", False, lstrip=True), added(n + 5, "<|sep|>", True, rstrip=True),
            added(n + 6, "\ufb01x", False, normalized=True)]  # "ﬁx": matched as NFKC "fix"
    with open(os.path.join(HERE, "..", "..", "data", "tokenizer", "llama3_1_post_processor.json")) as f:
        post = json.load(f)
    post["processors"][1]["special_tokens"]["<|begin_of_text|>"]["ids"] = [n]
    pattern = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
               "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": toks,
           "normalizer": {"type": "NFKC"},
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
           "post_processor": post,
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                     "ignore_merges": True, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}}
    write("bytelevel", tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                             "tokenizer_class": "PreTrainedTokenizerFast"})


def sp_vocab(text, n_merges):
    """SentencePiece-style: <unk> <s> </s>, the 256 <0xNN> byte tokens, then "▁" and the printable
    ASCII characters of the text, then merges learned on "▁"-prefixed words."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for ch in [SP] + sorted(set(c for c in text if " " < c < "\x7f")):
        vocab.setdefault(ch, len(vocab))
    words = collections.Counter(re.findall(r" ?[^ \n]+|  +", text))
    words = {tuple(w.replace(" ", SP)): c for w, c in words.items()}
    words = {w: c for w, c in words.items() if all(ch in vocab for ch in w)}
    merges = learn_merges(words, n_merges)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


SP_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": SP}, "content": " "}, {"type": "ByteFallback"},
    {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def sentencepiece(text):
    vocab, merges = sp_vocab(text, 300)
    toks = [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True)]
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": toks,
           "normalizer": {"type": "Sequence", "normalizers": [
               {"type": "Prepend", "prepend": SP},
               {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
           "pre_tokenizer": None, "post_processor": post, "decoder": SP_DECODER,
           "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                     "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}}
    write("sentencepiece", tok, {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                                 "eos_token": "</s>", "unk_token": "<unk>", "legacy": True,
                                 "tokenizer_class": "LlamaTokenizer"})


def metaspace(text):
    vocab, merges = sp_vocab(text, 200)
    toks = [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True)]
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": toks,
           "normalizer": None,
           "pre_tokenizer": {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": False},
           "post_processor": None, "decoder": SP_DECODER,
           "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                     "ignore_merges": True, "vocab": vocab, "merges": [[a, b] for a, b in merges]}}
    write("metaspace", tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})


def main():
    with open(os.path.join(DATA, "shakespeare.txt"), encoding="utf-8") as f:
        text = f.read()[:200000]
    bytelevel(text)
    sentencepiece(text)
    metaspace(text)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
