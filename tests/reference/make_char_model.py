#!/usr/bin/env python3
"""Make tests/data/models/char_tiny: the hf_tanh_bias weights (vocab 97) with a character
tokenizer (ids 0..95 = "\\n" and the 95 printable ASCII characters, id 96 = <|endoftext|>) and a
generation_config.json, so that the generation loop can be tested end to end against the PyTorch
greedy reference of hf_tanh_bias. Standard library only; deterministic."""
import json, os, shutil, sys

root = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(root, "..", "data", "models", "hf_tanh_bias")
dst = os.path.join(root, "..", "data", "models", "char_tiny")
os.makedirs(dst, exist_ok=True)
for f in ("config.json", "model.safetensors", "reference.json"):
    shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))

chars = ["\n"] + [chr(c) for c in range(32, 127)]
assert len(chars) == 96
vocab = {ch: i for i, ch in enumerate(chars)}
vocab["<|endoftext|>"] = 96
tok = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 96, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True}],
    "normalizer": None, "pre_tokenizer": None, "post_processor": None,
    "decoder": {"type": "Fuse"},
    "model": {"type": "BPE", "dropout": None, "unk_token": None,
              "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
              "byte_fallback": False, "vocab": vocab, "merges": []},
}
with open(os.path.join(dst, "tokenizer.json"), "w") as f:
    json.dump(tok, f, ensure_ascii=False, indent=1, sort_keys=True)
    f.write("\n")
gen = {"do_sample": True, "temperature": 0.8, "top_k": 20, "top_p": 0.95,
       "repetition_penalty": 1.1, "max_new_tokens": 40}
with open(os.path.join(dst, "generation_config.json"), "w") as f:
    json.dump(gen, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", dst)
