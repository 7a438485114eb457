#!/usr/bin/env python3
"""Build tests/data/tokenizer/gpt2/tokenizer.json (Hugging Face layout) from the GPT-2 originals
vocab.json (= encoder.json) and merges.txt (= vocab.bpe) beside it.

Layout as Hugging Face's own GPT-2 tokenizer.json: model.type BPE with vocab and "a b" merge
strings, ByteLevel pre_tokenizer (add_prefix_space false), ByteLevel decoder and
post_processor, and <|endoftext|> (id 50256) as a special added token.

Usage: python3 make_gpt2_tokenizer_json.py [DIR]   (default: tests/data/tokenizer/gpt2)
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "data", "tokenizer", "gpt2")

with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
    vocab = json.load(f)
with open(os.path.join(d, "merges.txt"), encoding="utf-8") as f:
    lines = f.read().split("\n")
merges = [l for i, l in enumerate(lines) if l and not (i == 0 and l.startswith("#"))]

byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
tok = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
    "normalizer": None,
    "pre_tokenizer": byte_level,
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                       "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
              "vocab": vocab, "merges": merges},
}
out = os.path.join(d, "tokenizer.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {out}: {len(vocab)} tokens, {len(merges)} merges")
