#!/usr/bin/python3
"""Generate the hostile corpus (tests/hostile/corpus/) and its manifest (tests/hostile/manifest.json).

Python standard library only. Run from anywhere:

    tests/hostile/gen_corpus.py           # rewrite corpus/ and manifest.json
    tests/hostile/gen_corpus.py --check   # exit 1 if they differ from what this script writes

The corpus is small on purpose: one tiny GPT-2 model (corpus/base/tiny, 12 tokens, 2 layers,
n_embd 4) and, per case, only the files that differ from it. What is big, special or cannot
live in git (deep JSON, a 40 MB tokenizer, FIFOs, symlink loops, sparse files, copies of built
plugins) is described by a `setup` step that run_corpus.py performs at test time.

Each manifest entry:
  name, about         what the case is and why it is hostile
  kind                how hostile_case.c (or, for "cli", the textgen command) runs it
  folder              {"base": "tiny" | null, "files": "cases/<name>" | null,
                       "remove": [file...], "setup": [step...]}: the folder the case runs on
  args                arguments after the kind; {dir} is the folder, {plugins} the folder of the
                      hostile test plugins, {builtin} that of the built-in plugins
  expect              {"status": "TG_...", "message": [substring...]} — every substring must be
                      in the message; for "cli": {"exit": N, "stderr": [...], "stdout": [...]}
  xfail               (optional) why today's answer is wrong: the expectation is what we want
  max_rss_mb          (optional) peak memory allowed (checked in builds without sanitizers)
"""
import json
import math
import os
import shutil
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# The tiny model
# ---------------------------------------------------------------------------------------------
V, C, H, L, P, I = 12, 4, 2, 2, 8, 16
CHARS = ["\n", " ", "a", "b", "c", "d", "e", "f", "g", "h", "!"]
EOT = 11


def lcg_values(n, seed):
    """n small deterministic floats in [-0.5, 0.5)."""
    out, x = [], seed
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2 ** 64
        out.append(((x >> 40) / float(1 << 24)) - 0.5)
    return out


def tiny_tensors(n_layer=L, bias=True):
    """name -> (shape, values) of a gpt2 model with Hugging Face names (Conv1D [in, out])."""
    t = {"wte.weight": [V, C], "wpe.weight": [P, C], "ln_f.weight": [C], "ln_f.bias": [C]}
    for i in range(n_layer):
        p = "h.%d." % i
        t.update({p + "ln_1.weight": [C], p + "ln_1.bias": [C],
                  p + "attn.c_attn.weight": [C, 3 * C], p + "attn.c_attn.bias": [3 * C],
                  p + "attn.c_proj.weight": [C, C], p + "attn.c_proj.bias": [C],
                  p + "ln_2.weight": [C], p + "ln_2.bias": [C],
                  p + "mlp.c_fc.weight": [C, I], p + "mlp.c_fc.bias": [I],
                  p + "mlp.c_proj.weight": [I, C], p + "mlp.c_proj.bias": [C]})
    if not bias:
        t = {k: v for k, v in t.items() if not k.endswith(".bias")}
    out = {}
    for k, (name, shape) in enumerate(sorted(t.items())):
        n = math.prod(shape)
        vals = [1.0 + v * 0.1 for v in lcg_values(n, k + 1)] if name.endswith("ln_1.weight") or \
            name.endswith("ln_2.weight") or name == "ln_f.weight" else lcg_values(n, k + 1)
        out[name] = (shape, vals)
    return out


def pack(tensors, dtype="F32"):
    """(header dict, data bytes) of a safetensors file, tensors in name order, no gaps."""
    header, data = {"__metadata__": {"format": "pt"}}, bytearray()
    for name in sorted(tensors):
        shape, vals = tensors[name]
        if dtype == "F32":
            raw = struct.pack("<%df" % len(vals), *vals)
        else:  # F16
            raw = struct.pack("<%de" % len(vals), *vals)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return header, bytes(data)


def safetensors_bytes(header_text, data):
    pad = (8 - len(header_text) % 8) % 8
    header_text += b" " * pad
    return struct.pack("<Q", len(header_text)) + header_text + data


def byte_level_alphabet():
    """GPT-2's printable stand-ins for the 256 bytes, in byte order."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = [], 0
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def tiny_config(**kw):
    c = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V,
         "n_positions": P, "n_embd": C, "n_head": H, "n_layer": L, "n_inner": None,
         "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05,
         "bos_token_id": EOT, "eos_token_id": EOT}
    c.update(kw)
    return c


def tiny_tokenizer(vocab=None, added=None, **model_kw):
    model = {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
             "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
             "vocab": vocab if vocab is not None else {ch: i for i, ch in enumerate(CHARS)},
             "merges": []}
    model.update(model_kw)
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": added if added is not None else [
                {"id": EOT, "content": "<|endoftext|>", "special": True, "lstrip": False,
                 "rstrip": False, "normalized": False, "single_word": False}],
            "normalizer": None, "pre_tokenizer": None, "post_processor": None,
            "decoder": {"type": "Fuse"}, "model": model}


def dumps(obj):
    return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode()


BASE_TENSORS = tiny_tensors()
BASE_HEADER, BASE_DATA = pack(BASE_TENSORS)


def header_text(h):
    return json.dumps(h, separators=(",", ":")).encode()


def copy_header():
    return json.loads(json.dumps(BASE_HEADER))


# ---------------------------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------------------------
CASES = []
FILES = {}  # "cases/<name>/<file>" -> bytes


def case(name, kind, about, status=None, message=(), *, args=None, files=None, remove=(),
         setup=(), base="tiny", xfail=None, max_rss_mb=None, expect=None, plugins=()):
    assert not any(c["name"] == name for c in CASES), name
    folder = {"base": base, "files": None, "remove": list(remove), "setup": list(setup)}
    if files:
        folder["files"] = "cases/" + name
        for fname, data in files.items():
            FILES["cases/%s/%s" % (name, fname)] = data if isinstance(data, bytes) else dumps(data)
    entry = {"name": name, "about": about, "kind": kind, "folder": folder,
             "args": args if args is not None else ["{dir}"],
             "expect": expect if expect is not None else {"status": status, "message": list(message)}}
    if plugins:
        entry["plugins"] = list(plugins)
    if xfail:
        entry["xfail"] = xfail
    if max_rss_mb:
        entry["max_rss_mb"] = max_rss_mb
    CASES.append(entry)


def st_case(name, about, status, message, header, *, data="base", length=None, xfail=None,
            extra_setup=()):
    """A model whose model.safetensors is assembled at test time from `header` (bytes or dict)
    and a data section ('base', or {'trim': n} / {'extend': n} / {'prepend': n})."""
    text = header if isinstance(header, bytes) else header_text(header)
    step = {"op": "safetensors", "header": "model.safetensors.header", "data": data}
    if length is not None:
        step["length"] = length
    case(name, "model", about, status, message, files={"model.safetensors.header": text},
         remove=["model.safetensors"], setup=[step] + list(extra_setup), xfail=xfail)


def safetensors_cases():
    names = sorted(k for k in BASE_HEADER if k != "__metadata__")
    last = names[-1]

    st_case("st-ok-reassembled", "the base header reassembled at test time: the control case",
            "TG_OK", [], BASE_HEADER)
    st_case("st-length-past-end", "header length field larger than the file",
            "TG_EFORMAT", ["model.safetensors", "header length 5000 runs past the end of the file"],
            BASE_HEADER, length=5000, data={"trim": len(BASE_DATA)})
    st_case("st-length-huge", "header length 2^63",
            "TG_EFORMAT", ["header length 9223372036854775808 runs past the end"],
            BASE_HEADER, length=2 ** 63)
    st_case("st-length-zero", "header length 0",
            "TG_EFORMAT", ["header must be a JSON object starting with '{'"], BASE_HEADER, length=0)
    case("st-short-file", "model", "a 5-byte model.safetensors", "TG_EFORMAT",
         ["model.safetensors: truncated file (5 bytes"], files={"model.safetensors": b"\x10\x00\x00\x00\x00"})
    case("st-fifo", "model", "a FIFO in place of model.safetensors (must not block)", "TG_EIO",
         ["model.safetensors", "not a regular file (a FIFO)"],
         setup=[{"op": "fifo", "file": "model.safetensors"}])
    case("st-dev-zero", "model", "model.safetensors -> /dev/zero (endless zeros)", "TG_EIO",
         ["model.safetensors", "a character device"],
         setup=[{"op": "symlink", "file": "model.safetensors", "target": "/dev/zero"}])
    case("st-symlink-loop", "model", "model.safetensors -> itself", "TG_EIO",
         ["model.safetensors", "Too many levels of symbolic links"],
         setup=[{"op": "symlink", "file": "model.safetensors", "target": "model.safetensors"}])
    case("st-empty-file", "model", "an empty model.safetensors", "TG_EFORMAT",
         ["truncated file (0 bytes"], files={"model.safetensors": b""})
    st_case("st-header-array", "the header is a JSON array", "TG_EFORMAT",
            ["header must be a JSON object"], b"[1, 2, 3]")
    st_case("st-header-garbage", "the header is not JSON", "TG_EFORMAT",
            ["model.safetensors: malformed JSON"], b"{this is not json")
    st_case("st-header-truncated", "the header JSON stops half-way", "TG_EFORMAT",
            ["model.safetensors: malformed JSON"], header_text(BASE_HEADER)[:300])

    h = copy_header(); h[last]["data_offsets"][1] += 4
    st_case("st-offsets-past-end", "the last tensor ends 4 bytes past the data", "TG_EFORMAT",
            ["'%s'" % last], h)
    h = copy_header(); h[names[1]]["data_offsets"][0] -= 4; h[names[1]]["data_offsets"][1] -= 4
    st_case("st-overlap", "two tensors share 4 bytes", "TG_EFORMAT", ["overlaps tensor"], h)
    h = copy_header()
    for n in names[1:]:
        h[n]["data_offsets"] = [o + 4 for o in h[n]["data_offsets"]]
    st_case("st-hole", "4 unused bytes between two tensors", "TG_EFORMAT",
            ["4 unused bytes before tensor '%s'" % names[1]], h, data={"extend": 4})
    st_case("st-trailing", "the data section is 64 bytes longer than the header says",
            "TG_EFORMAT", ["64 trailing bytes after the last tensor"], BASE_HEADER, data={"extend": 64})
    st_case("st-data-truncated", "the file lost its last 12 bytes", "TG_EFORMAT",
            ["run past the end of the data", "file truncated?"], BASE_HEADER, data={"trim": 12})
    st_case("st-sparse-8g", "an 8 GB sparse file whose header describes 2 KB", "TG_EFORMAT",
            ["trailing bytes after the last tensor"], BASE_HEADER,
            extra_setup=[{"op": "sparse_extend", "file": "model.safetensors", "size": 8 << 30}])
    h = copy_header(); h[names[0]]["data_offsets"] = [64, 0]
    st_case("st-end-before-begin", "data_offsets [64, 0]", "TG_EFORMAT",
            ["data_offsets end 0 < begin 64"], h)
    h = copy_header(); h[names[0]]["data_offsets"] = [-8, 8]
    st_case("st-negative-offset", "a negative offset", "TG_EFORMAT",
            ["data_offsets must be non-negative integers"], h)
    h = copy_header(); h[names[0]]["data_offsets"] = [0.0, 64.5]
    st_case("st-float-offset", "fractional offsets", "TG_EFORMAT",
            ["data_offsets must be non-negative integers"], h)
    h = copy_header(); h[names[0]]["data_offsets"] = [0, 16, 32]
    st_case("st-three-offsets", "three offsets", "TG_EFORMAT", ["\"data_offsets\" must be [begin, end]"], h)
    h = copy_header(); h[names[0]]["data_offsets"] = [0, 2 ** 64 + 5]
    st_case("st-offset-beyond-u64", "an offset larger than 2^64", "TG_EFORMAT",
            ["data_offsets must be non-negative integers"], h)
    h = copy_header(); h["wpe.weight"]["dtype"] = "F33"
    st_case("st-dtype-unknown", "dtype F33", "TG_EUNSUPPORTED",
            ["tensor 'wpe.weight' has unknown dtype \"F33\""], h)
    h = copy_header(); del h["wpe.weight"]["dtype"]
    st_case("st-dtype-missing", "no dtype", "TG_ENOTFOUND", ["wpe.weight", "dtype"], h)
    h = copy_header(); h["wpe.weight"]["dtype"] = "I32"
    st_case("st-dtype-int-weight", "a weight matrix stored as I32", "TG_EUNSUPPORTED",
            ["'wpe.weight'", "I32"], h)
    h = copy_header(); h["h.0.attn.c_attn.bias"]["dtype"] = "I32"
    st_case("st-bias-missing-in-layer-0",
            "layer 0's c_attn.bias is an integer buffer while every other bias is there",
            "TG_EUNSUPPORTED", ["h.0.attn.c_attn.bias", "I32"], h)
    h = copy_header(); h["wpe.weight"]["shape"] = [P * C + 1]
    st_case("st-shape-bytes-mismatch", "the shape needs more bytes than the offsets span",
            "TG_EFORMAT", ["data_offsets span 128 bytes but shape and dtype need 132"], h)
    h = copy_header(); h["wpe.weight"]["shape"] = [2 ** 62, 2 ** 62]
    st_case("st-shape-huge", "dims of 2^62 (the element count overflows 64 bits)", "TG_EFORMAT",
            ["'wpe.weight': shape too large"], h)
    h = copy_header(); h["wpe.weight"]["shape"] = [-8, -4]
    st_case("st-shape-negative", "negative dims", "TG_EFORMAT",
            ["shape entries must be non-negative integers"], h)
    h = copy_header(); h["wpe.weight"]["shape"] = [1, 1, 1, 1, 1, 1, 1, 1, 1, P, C]
    st_case("st-shape-11-dims", "eleven dimensions", "TG_EUNSUPPORTED", ["dimensions (at most"], h)
    h = copy_header(); h["wte.weight"]["shape"] = [C, V]
    st_case("st-shape-transposed", "wte stored [n_embd, vocab] instead of [vocab, n_embd]",
            "TG_EFORMAT", ["'wte.weight' has shape [4, 12] but config.json implies [12, 4]"], h)
    h = copy_header()
    h["ln_f.weightx"] = h.pop("ln_f.weight")
    st_case("st-missing-tensor", "ln_f.weight renamed", "TG_ENOTFOUND",
            ["missing tensor 'ln_f.weight'"], h)
    h = copy_header()
    h["transformer.wte.weight"] = h.pop("wte.weight")
    h["wte.weight"] = {"dtype": "F32", "shape": [0], "data_offsets": [len(BASE_DATA), len(BASE_DATA)]}
    st_case("st-duplicate-canonical", "'wte.weight' and 'transformer.wte.weight' both present",
            "TG_EFORMAT", ["duplicate tensor", "'wte.weight'"], h)
    text = header_text(BASE_HEADER).replace(b"{", b'{"ln_f.bias":{"dtype":"F32","shape":[0],'
                                                     b'"data_offsets":[0,0]},', 1)
    st_case("st-duplicate-json-key", "one tensor name twice in the header JSON", "TG_EFORMAT",
            ["key \"ln_f.bias\" appears twice"], text)
    h = copy_header()
    h["\udcff"] = h.pop("wpe.weight")  # placeholder replaced by a raw 0xff byte below
    text = header_text(h).replace(b'"\\udcff"', b'"wpe\xff.weight"')
    st_case("st-name-not-utf8", "a tensor name with an invalid UTF-8 byte", "TG_EFORMAT",
            ["model.safetensors", "UTF-8"], text)
    st_case("st-deep-header", "200,000 nested arrays in __metadata__ (a 400 KB header)",
            "TG_EFORMAT", ["model.safetensors", "nested more than 256 levels deep"], b"{}",
            extra_setup=[{"op": "nested_safetensors", "depth": 200000}])
    h = copy_header(); h["__metadata__"] = {"a": [[[1]]], "b": None, "c": {"d": 1.5}}
    st_case("st-metadata-not-strings", "__metadata__ values that are not strings (ignored)",
            "TG_OK", [], h)
    h = copy_header(); h["h.0.attn.bias"] = {"dtype": "BOOL", "shape": [0], "data_offsets": [0, 0]}
    st_case("st-empty-buffer", "an empty BOOL buffer (attn.bias is ignored)", "TG_OK", [], h)
    h = copy_header(); h["extra.weight"] = {"dtype": "F32", "shape": [0],
                                            "data_offsets": [len(BASE_DATA), len(BASE_DATA)]}
    st_case("st-unused-tensor", "an extra empty tensor: nothing in a file may go unused",
            "TG_EFORMAT", ["'extra.weight' is not used by architecture gpt2"], h)
    h = copy_header()
    for n in names:
        h[n]["data_offsets"] = [o + 2 for o in h[n]["data_offsets"]]
    h["pad"] = {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}
    st_case("st-misaligned", "an F16 scalar first, so every F32 tensor starts at an odd offset",
            "TG_EFORMAT", ["misaligned for F32"], h, data={"prepend": 2})
    nan = bytearray(BASE_DATA)
    off = BASE_HEADER["wte.weight"]["data_offsets"][0]
    nan[off:off + 4 * V * C] = struct.pack("<f", float("nan")) * (V * C)
    case("st-nan-weights", "generate", "every embedding is NaN: the logits are NaN",
         "TG_ERANGE", ["logit of token 0 is NaN"], args=["{dir}", "abc", "greedy", "2"],
         files={"model.safetensors": safetensors_bytes(header_text(BASE_HEADER), bytes(nan))})


def config_cases():
    def cfg(name, about, status, message, xfail=None, **kw):
        case(name, "model", about, status, message, files={"config.json": tiny_config(**kw)},
             xfail=xfail)

    def cfg_text(name, about, status, message, text, xfail=None):
        case(name, "model", about, status, message, files={"config.json": text}, xfail=xfail)

    case("cfg-missing", "model", "no config.json", "TG_ENOTFOUND", ["config.json"],
         remove=["config.json"])
    cfg_text("cfg-empty", "an empty config.json", "TG_EFORMAT", ["config.json"], b"")
    cfg_text("cfg-array", "config.json is an array", "TG_EFORMAT",
             ["config.json: the top level must be a JSON object"], b"[1, 2]")
    cfg_text("cfg-nan", "NaN as a number (not JSON)", "TG_EFORMAT", ["config.json"],
             dumps(tiny_config()).replace(b'"n_embd": 4', b'"n_embd": NaN'))
    cfg_text("cfg-huge-number", "n_embd 1e400 (an infinity once parsed)", "TG_EFORMAT",
             ["\"n_embd\" must be an integer"],
             dumps(tiny_config()).replace(b'"n_embd": 4', b'"n_embd": 1e400'))
    cfg("cfg-string-number", "n_embd \"4\"", "TG_EFORMAT", ["config.json", "\"n_embd\" must be an integer"],
        n_embd="4")
    cfg("cfg-fraction", "n_layer 1.5", "TG_EFORMAT", ["\"n_layer\" must be an integer"], n_layer=1.5)
    cfg("cfg-vocab-zero", "vocab_size 0", "TG_ERANGE", ["\"vocab_size\" = 0 is out of range"], vocab_size=0)
    cfg("cfg-vocab-huge", "vocab_size 2^40", "TG_ERANGE", ["\"vocab_size\" = 1099511627776 is out of range"],
        vocab_size=2 ** 40)
    cfg("cfg-layers-negative", "n_layer -1", "TG_ERANGE", ["\"n_layer\" = -1 is out of range"], n_layer=-1)
    c = tiny_config(); del c["vocab_size"]
    case("cfg-no-vocab", "model", "no vocab_size", "TG_ENOTFOUND", ["missing field \"vocab_size\""],
         files={"config.json": c})
    cfg("cfg-head-not-dividing", "n_head 3 with n_embd 4", "TG_EFORMAT",
        ["n_embd (4) is not divisible by n_head (3)"], n_head=3)
    cfg("cfg-mamba", "model_type mamba", "TG_EUNSUPPORTED", ["model_type \"mamba\" is not supported"],
        model_type="mamba")
    cfg("cfg-model-type-number", "model_type 2", "TG_EFORMAT", ["\"model_type\" must be a string"],
        model_type=2)
    cfg("cfg-relu", "activation relu", "TG_EUNSUPPORTED", ["activation_function \"relu\""],
        activation_function="relu")
    cfg("cfg-eps-zero", "layer_norm_epsilon 0", "TG_ERANGE",
        ["\"layer_norm_epsilon\" = 0 is out of range (0, 1)"], layer_norm_epsilon=0)
    cfg("cfg-eos-out-of-range", "eos_token_id 12 of 12 tokens", "TG_ERANGE",
        ["\"eos_token_id\" = 12 is outside the vocabulary [0, 12)"], eos_token_id=12)
    cfg("cfg-bos-string", "bos_token_id \"11\"", "TG_EFORMAT", ["\"bos_token_id\" must be a token id"],
        bos_token_id="11")
    cfg("cfg-fewer-layers", "n_layer 1 for a file holding 2 layers", "TG_EFORMAT",
        ["n_layer", "h.1."], n_layer=1)
    cfg("cfg-more-layers", "n_layer 3 for a file holding 2 layers", "TG_ENOTFOUND",
        ["missing tensor 'h.2.ln_1.weight'"], n_layer=3)
    cfg("cfg-embd-mismatch", "n_embd 8 for a file of width 4", "TG_EFORMAT",
        ["but config.json implies", "n_embd"], n_embd=8)
    cfg("cfg-positions-mismatch", "n_positions 16 for wpe of 8 rows", "TG_EFORMAT",
        ["'wpe.weight' has shape [8, 4] but config.json implies [16, 4]"], n_positions=16)
    cfg("cfg-inner-mismatch", "n_inner 8 for an MLP of 16", "TG_EFORMAT",
        ["mlp.c_fc.weight"], n_inner=8)
    c = tiny_config()
    for k in ("n_embd", "n_layer", "n_head", "n_positions"):
        del c[k]
    c.update(hidden_size=C, num_hidden_layers=L, num_attention_heads=H, max_position_embeddings=P)
    case("cfg-aliases", "model", "the Hugging Face aliases (hidden_size, ...)", "TG_OK", [],
         files={"config.json": c})
    cfg_text("cfg-duplicate-key", "n_layer twice", "TG_EFORMAT", ["key \"n_layer\" appears twice"],
             dumps(tiny_config()).replace(b'"n_layer": 2', b'"n_layer": 2, "n_layer": 1'))
    cfg_text("cfg-invalid-utf8", "a byte 0xff in a string", "TG_EFORMAT", ["config.json"],
             dumps(tiny_config()).replace(b'"gpt2"', b'"gpt\xff2"'))
    cfg_text("cfg-bom", "a UTF-8 byte-order mark first (json-glib skips it)", "TG_OK", [],
             b"\xef\xbb\xbf" + dumps(tiny_config()))
    cfg_text("cfg-trailing-garbage", "a second JSON value after the object", "TG_EFORMAT",
             ["config.json"], dumps(tiny_config()) + b'{"n_layer": 1}')
    case("cfg-deep", "model", "100,000 nested arrays (200 KB)", "TG_EFORMAT",
         ["config.json", "nested more than 256 levels deep"],
         setup=[{"op": "nested_json", "file": "config.json", "depth": 100000}])
    case("cfg-fifo", "model", "a FIFO in place of config.json (must not block)", "TG_EIO",
         ["config.json", "not a regular file (a FIFO)"], setup=[{"op": "fifo", "file": "config.json"}])
    case("cfg-dev-zero", "model", "config.json -> /dev/zero", "TG_EIO",
         ["not a regular file (a character device)"],
         setup=[{"op": "symlink", "file": "config.json", "target": "/dev/zero"}])
    case("cfg-directory", "model", "a directory named config.json", "TG_EIO",
         ["not a regular file (a directory)"], setup=[{"op": "mkdir", "file": "config.json"}])
    case("cfg-symlink-loop", "model", "config.json -> config.json", "TG_EIO",
         ["config.json", "Too many levels of symbolic links"],
         setup=[{"op": "symlink", "file": "config.json", "target": "config.json"}])
    case("cfg-dangling-symlink", "model", "config.json -> a file that does not exist", "TG_ENOTFOUND",
         ["config.json"], setup=[{"op": "symlink", "file": "config.json", "target": "nowhere.json"}])
    case("folder-is-file", "model", "the model folder is a regular file", "TG_EINVAL",
         ["is not a directory"], args=["{dir}/config.json"])
    case("folder-missing", "model", "the model folder does not exist", "TG_ENOTFOUND",
         ["does not exist"], args=["{dir}/nowhere"])
    case("folder-loop", "model", "the model folder is a symlink loop", "TG_EIO",
         ["Too many levels of symbolic links"], args=["{dir}/loop"],
         setup=[{"op": "symlink", "file": "loop", "target": "loop"}])
    case("folder-name-not-utf8", "model", "a model folder whose name holds the byte 0xff",
         "TG_ENOTFOUND", ["config.json"], args=["{dir}/mod\udcffel"],
         setup=[{"op": "mkdir", "file": "mod\udcffel"}])


def genconfig_cases():
    def gen(name, about, status, message, obj, xfail=None, kind="model", args=None):
        case(name, kind, about, status, message, xfail=xfail, args=args,
             files={"generation_config.json": obj if isinstance(obj, bytes) else dumps(obj)})

    gen("gen-top_k-3e9", "top_k 3e9 (once an int cast: undefined behaviour)", "TG_ERANGE",
        ["generation_config.json: \"top_k\" is 3000000000 but must be"], {"do_sample": True, "top_k": 3e9})
    gen("gen-ngram-3e9", "no_repeat_ngram_size 3e9", "TG_ERANGE",
        ["\"no_repeat_ngram_size\" is 3000000000"], {"no_repeat_ngram_size": 3e9})
    gen("gen-top_p-2", "top_p 2", "TG_ERANGE", ["\"top_p\" is 2 but must be a number in [1e-9, 1]"],
        {"do_sample": True, "top_p": 2})
    gen("gen-top_k-negative", "top_k -5", "TG_ERANGE", ["\"top_k\" is -5"], {"do_sample": True, "top_k": -5})
    gen("gen-top_k-fraction", "top_k 2.7", "TG_EFORMAT", ["\"top_k\" is 2.7000000000000002 but must be an integer"],
        {"do_sample": True, "top_k": 2.7})
    gen("gen-temperature-string", "temperature \"hot\"", "TG_EFORMAT",
        ["\"temperature\" must be a number in [0, 100]"], {"do_sample": True, "temperature": "hot"})
    gen("gen-do_sample-string", "do_sample \"yes\"", "TG_EFORMAT", ["\"do_sample\" must be true or false"],
        {"do_sample": "yes"})
    gen("gen-eos-out-of-range", "eos_token_id 99", "TG_EFORMAT",
        ["eos_token_id must be a token id in [0, 12)"], {"eos_token_id": 99})
    gen("gen-eos-list-mixed", "eos_token_id [1, \"x\"]", "TG_EFORMAT", ["eos_token_id"],
        {"eos_token_id": [1, "x"]})
    gen("gen-penalty-zero", "repetition_penalty 0", "TG_ERANGE", ["\"repetition_penalty\" is 0"],
        {"repetition_penalty": 0})
    gen("gen-max-new-zero", "max_new_tokens 0", "TG_ERANGE", ["\"max_new_tokens\" is 0"], {"max_new_tokens": 0})
    gen("gen-nan", "NaN (not JSON)", "TG_EFORMAT", ["generation_config.json"],
        b'{"do_sample": true, "temperature": NaN}')
    gen("gen-empty", "an empty file", "TG_EFORMAT", ["generation_config.json"], b"")
    gen("gen-nulls", "every field null (all defaults)", "TG_OK", [],
        {"do_sample": None, "temperature": None, "top_k": None, "eos_token_id": None})
    gen("gen-temperature-tiny", "temperature 1e-40 inside the documented [0, 100]: generation works",
        "TG_OK", [], {"do_sample": True, "temperature": 1e-40, "top_k": 0},
        kind="generate", args=["{dir}", "abc", "", "3"])
    gen("gen-top_p-tiny", "top_p 8.1e-41 (found by fuzzing: refused once as a spec position)",
        "TG_ERANGE", ["generation_config.json: \"top_p\" is 8.1", "e-41 but must be a number in [1e-9, 1]"],
        {"do_sample": True, "top_p": 8.1e-41})
    gen("gen-typical-tiny", "typical_p 1e-12", "TG_ERANGE",
        ["\"typical_p\" is 9.9999999999999998e-13 but must be a number in [1e-9, 1]"],
        {"do_sample": True, "typical_p": 1e-12})
    gen("gen-top_p-typical-least", "top_p and typical_p at their least, 1e-9: generation works", "TG_OK", [],
        {"do_sample": True, "top_p": 1e-9, "typical_p": 1e-9}, kind="generate", args=["{dir}", "abc", "", "3"])
    gen("gen-every-knob", "every knob at once, then generation", "TG_OK", [],
        {"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.8, "min_p": 0.05,
         "typical_p": 0.9, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "max_new_tokens": 5,
         "eos_token_id": [11, 0]}, kind="generate", args=["{dir}", "abc", "", "4"])
    case("gen-deep", "model", "100,000 nested arrays", "TG_EFORMAT",
         ["generation_config.json", "nested more than 256 levels deep"],
         setup=[{"op": "nested_json", "file": "generation_config.json", "depth": 100000}])
    case("gen-fifo", "model", "a FIFO in place of generation_config.json", "TG_EIO",
         ["generation_config.json", "a FIFO"], setup=[{"op": "fifo", "file": "generation_config.json"}])


def tokenizer_cases():
    def tok(name, about, status, message, obj, xfail=None, kind="tokenizer", extra=None):
        files = {"tokenizer.json": obj if isinstance(obj, bytes) else dumps(obj)}
        files.update(extra or {})
        case(name, kind, about, status, message, files=files, xfail=xfail,
             args=["{dir}/tokenizer.json"] if kind == "tokenizer" else None)

    vocab = {ch: i for i, ch in enumerate(CHARS)}
    big = dict(vocab, **{"x%d" % i: EOT + i for i in range(4)})
    big_added = [{"id": EOT + 4, "content": "<|endoftext|>", "special": True}]
    tok("tok-larger-than-model", "a tokenizer of 16 tokens for a model of 12", "TG_EFORMAT",
        ["the tokenizer has 16 tokens but the model only 12"], tiny_tokenizer(vocab=big, added=big_added),
        kind="model")
    tok("tok-id-out-of-range", "an id of 10^9", "TG_EFORMAT", ["outside [0,"],
        tiny_tokenizer(vocab=dict(vocab, z=10 ** 9)))
    tok("tok-id-negative", "an id of -1", "TG_EFORMAT", ["tokenizer.json", "-1"],
        tiny_tokenizer(vocab=dict(vocab, z=-1)))
    tok("tok-duplicate-id", "two tokens with id 3", "TG_EFORMAT", ["duplicate id 3"],
        tiny_tokenizer(vocab=dict(vocab, z=3)))
    tok("tok-added-collides", "an added token on the id of 'a'", "TG_EFORMAT", ["tokenizer.json", "2"],
        tiny_tokenizer(added=[{"id": 2, "content": "<|x|>", "special": True}]))
    tok("tok-added-no-content", "an added token without content", "TG_ENOTFOUND", ["content"],
        tiny_tokenizer(added=[{"id": EOT, "special": True}]))
    tok("tok-merge-unknown", "a merge of tokens the vocabulary lacks", "TG_EFORMAT",
        ["is not in the vocabulary"], tiny_tokenizer(merges=["x y"]))
    tok("tok-merge-result-unknown", "a merge whose result the vocabulary lacks", "TG_EFORMAT",
        ["merged token \"ab\" is not in the vocabulary"], tiny_tokenizer(merges=["a b"]))
    tok("tok-wordpiece", "a WordPiece model", "TG_EUNSUPPORTED", ["WordPiece"],
        dict(tiny_tokenizer(), model={"type": "WordPiece", "vocab": vocab}))
    t = tiny_tokenizer(); t["normalizer"] = {"type": "Lowercase"}
    tok("tok-normalizer", "a Lowercase normalizer", "TG_EUNSUPPORTED",
        ["normalizer \"Lowercase\" is not supported"], t)
    t = tiny_tokenizer(byte_fallback=True); t["pre_tokenizer"] = {"type": "ByteLevel"}
    t["decoder"] = None
    tok("tok-byte-fallback", "byte_fallback true with a ByteLevel pre-tokenizer", "TG_EUNSUPPORTED",
        ["byte_fallback = true with a ByteLevel pre_tokenizer is not supported"], t)
    tok("tok-empty-vocab", "an empty vocabulary", "TG_EFORMAT", ["the vocabulary is empty"],
        tiny_tokenizer(vocab={}, added=[]))
    tok("tok-vocab-array", "the vocabulary is an array", "TG_EFORMAT",
        ["model.vocab must be an object"], tiny_tokenizer(vocab=[1, 2]))
    tok("tok-unk-missing", "unk_token not in the vocabulary", "TG_EFORMAT",
        ["model.unk_token \"<unk>\" is not in the vocabulary"], tiny_tokenizer(unk_token="<unk>"))
    tok("tok-empty-piece", "an empty token", "TG_EFORMAT", ["has an empty token"],
        tiny_tokenizer(vocab=dict(vocab, **{"": 12})))
    tok("tok-duplicate-key", "one token twice in the vocab object", "TG_EFORMAT",
        ["appears twice"], dumps(tiny_tokenizer()).replace(b'"a": 2', b'"a": 2, "a": 3'))
    tok("tok-no-model", "no model object", "TG_EFORMAT", ["missing object \"model\""],
        {"version": "1.0"})
    tok("tok-invalid-utf8", "an invalid UTF-8 byte in a token", "TG_EFORMAT", ["tokenizer.json"],
        dumps(tiny_tokenizer()).replace(b'"a": 2', b'"a\xff": 2'))
    tok("tok-config-unknown-eos", "tokenizer_config.json names an eos token the vocabulary lacks",
        "TG_EFORMAT", ["tokenizer_config.json", "<|nope|>"], tiny_tokenizer(),
        extra={"tokenizer_config.json": {"eos_token": "<|nope|>"}})
    tok("tok-config-not-json", "tokenizer_config.json is not JSON", "TG_EFORMAT",
        ["tokenizer_config.json: malformed JSON"], tiny_tokenizer(),
        extra={"tokenizer_config.json": b"{nope"})
    case("tok-deep", "tokenizer", "100,000 nested arrays in tokenizer.json", "TG_EFORMAT",
         ["tokenizer.json", "nested more than 256 levels deep"], args=["{dir}/tokenizer.json"],
         setup=[{"op": "nested_json", "file": "tokenizer.json", "depth": 100000}])
    case("tok-fifo", "model", "a FIFO in place of tokenizer.json, in a model folder", "TG_EIO",
         ["tokenizer.json", "a FIFO"], setup=[{"op": "fifo", "file": "tokenizer.json"}])
    case("tok-2m-entries", "model",
         "a 2,000,000-entry tokenizer.json (~40 MB) for a model of 12 tokens", "TG_EFORMAT",
         ["tokenizer.json is", "more than a vocabulary of 12 tokens can need"],
         setup=[{"op": "big_tokenizer", "file": "tokenizer.json", "entries": 2000000}],
         max_rss_mb=250)
    # vocab.json + merges.txt: a byte-level vocabulary (every byte has its token) plus "ab"
    merges = "#version: 0.2\na b\n"
    vm_vocab = {ch: i for i, ch in enumerate(byte_level_alphabet())}
    vm_vocab["ab"] = 256

    def vm(name, about, status, message, vocab_bytes, merges_bytes, xfail=None):
        case(name, "vocab_merges", about, status, message, xfail=xfail,
             files={"vocab.json": vocab_bytes, "merges.txt": merges_bytes},
             args=["{dir}/vocab.json", "{dir}/merges.txt"])

    vm("vm-three-parts", "a merges line of three tokens", "TG_EFORMAT",
       ["merges.txt", "is not two tokens separated by one space"], dumps(vm_vocab), b"a b c\n")
    vm("vm-nul", "a NUL byte in merges.txt", "TG_EFORMAT", ["merges.txt: contains a NUL byte"],
       dumps(vm_vocab), b"a\x00b\n")
    vm("vm-unknown-token", "a merge of unknown tokens", "TG_EFORMAT", ["is not in the vocabulary"],
       dumps(vm_vocab), b"x y\n")
    vm("vm-vocab-array", "vocab.json is an array", "TG_EFORMAT",
       ["the top level must be a JSON object {token: id}"], b"[1, 2]", merges.encode())
    vm("vm-ok", "a well-formed pair (control case)", "TG_OK", [], dumps(vm_vocab), merges.encode())
    case("vm-no-merges", "vocab_merges", "vocab.json without merges.txt", "TG_ENOTFOUND",
         ["merges.txt"], files={"vocab.json": dumps(vm_vocab)},
         args=["{dir}/vocab.json", "{dir}/merges.txt"])
    case("vm-fifo", "vocab_merges", "merges.txt is a FIFO", "TG_EIO", ["merges.txt", "a FIFO"],
         files={"vocab.json": dumps(vm_vocab)}, setup=[{"op": "fifo", "file": "merges.txt"}],
         args=["{dir}/vocab.json", "{dir}/merges.txt"])


def spec_cases():
    def spec(name, about, status, message, text, steps=0, xfail=None, plugin=None):
        case(name, "spec", about, status, message, args=["{dir}", text, str(steps)], xfail=xfail,
             plugins=[plugin] if plugin else ())

    spec("spec-unknown", "an unknown processor", "TG_ESPEC",
         ["spec position 1: unknown processor 'topp'", "known processors:", "top_p"], "topp(p=0.9) dist")
    spec("spec-unknown-param", "a parameter top_k lacks", "TG_ESPEC",
         ["processor 'top_k' has no parameter 'p'", "its parameters: k"], "top_k(p=0.9) dist")
    spec("spec-out-of-range", "top_p 1.5", "TG_ESPEC", ["1.5 is out of range"], "top_p(p=1.5) dist")
    spec("spec-two-selectors", "greedy then dist", "TG_ESPEC", ["two selectors"], "greedy dist")
    spec("spec-no-selector", "no selector", "TG_ESPEC", ["has no selector"], "top_k(k=4)")
    spec("spec-selector-not-last", "a filter after the selector", "TG_ESPEC", ["greedy"], "greedy top_k(k=3)")
    spec("spec-unterminated", "an unterminated quote", "TG_ESPEC",
         ["spec position 17: the quote opened here is not closed"],
         'logit_bias(bias="1:2')
    spec("spec-unterminated-closed", "an unterminated quote inside closed parentheses", "TG_ESPEC",
         ["spec position 17", "quote"], 'logit_bias(bias="1:2) greedy')
    spec("spec-nan", "t=nan", "TG_ESPEC", ["temperature", "nan"], "temperature(t=nan) dist")
    spec("spec-inf", "t=inf", "TG_ESPEC", ["temperature", "inf"], "temperature(t=inf) dist")
    spec("spec-huge-int", "k with 23 digits", "TG_ESPEC", ["top_k", "99999999999999999999999"],
         "top_k(k=99999999999999999999999) greedy")
    spec("spec-repeat-param", "k given twice", "TG_ESPEC", ["'k'"], "top_k(k=1, k=2) greedy")
    spec("spec-deep-parens", "nested parentheses", "TG_ESPEC", ["spec position"], "top_k((((k=1)))) greedy")
    spec("spec-trailing-paren", "a stray ')'", "TG_ESPEC", ["spec position"], "greedy)")
    spec("spec-empty", "an empty spec", "TG_ESPEC", ["selector"], "")
    spec("spec-non-utf8", "a byte 0xff in a name", "TG_ESPEC", ["spec position"], "top_k(k=1) gr\udcffeedy")
    spec("spec-bias-syntax", "logit_bias without a colon", "TG_ESPEC",
         ["spec position 1: logit_bias: entry '12' is not id:value"], 'logit_bias(bias="12") greedy')
    spec("spec-bias-id-out-of-vocab", "logit_bias on id 9999 of 12", "TG_ESPEC",
         ["token id 9999 is outside the vocabulary [0, 12)"], 'logit_bias(bias="9999:1") greedy')
    spec("spec-bad-words-out-of-vocab", "bad_words id 12 of 12", "TG_ESPEC",
         ["bad_words: token id 12 is outside the vocabulary"], 'bad_words(ids="1 12") greedy')
    spec("spec-ids-garbage", "bad_words ids that are not numbers", "TG_ESPEC", ["bad_words"],
         'bad_words(ids="a b") greedy')
    spec("spec-temperature-tiny", "temperature 1e-40 is in range: it must sample", "TG_OK", [],
         "temperature(t=1e-40) dist", steps=3)
    spec("spec-xtc-threshold-zero", "xtc(threshold=0) after a -inf bias must still sample", "TG_OK", [],
         'logit_bias(bias="0:-inf") xtc(threshold=0, probability=1) dist', steps=3)
    spec("spec-all-banned", "every token banned by logit_bias", "TG_ESTATE", ["every candidate"],
         'logit_bias(bias="0:-inf 1:-inf 2:-inf 3:-inf 4:-inf 5:-inf 6:-inf 7:-inf 8:-inf 9:-inf '
         '10:-inf 11:-inf") dist', steps=1)
    spec("spec-top_k-huge", "top_k 1e9 on 12 tokens", "TG_OK", [], "top_k(k=1000000000) greedy", steps=2)
    spec("spec-extremes", "every filter at an extreme", "TG_OK", [],
         "min_p(p=1) typical(p=1e-9) top_n_sigma(n=100) top_p(p=1e-9) temperature(t=100) dist", steps=3)
    spec("spec-mirostat-zero", "mirostat_v2 with tau 0 and eta 1", "TG_OK", [],
         "mirostat_v2(tau=0, eta=1)", steps=4)
    spec("spec-dry-long", "dry with allowed_length 1000 and odd breakers", "TG_OK", [],
         'dry(allowed_length=1000, breakers="\\\\|\\"|") dist', steps=3)
    spec("spec-penalty-extremes", "penalties at their limits", "TG_OK", [],
         "repetition_penalty(penalty=10, last_n=-1) frequency_penalty(penalty=2) "
         "presence_penalty(penalty=-2) greedy", steps=3)
    # stages that break the contract (tests/hostile/plugins/hostile_stages.c)
    want_stage = "the host checks every stage's output and names the stage (issue 11, item 5)"
    spec("plug-nan-greedy", "a stage writes a NaN logit, greedy selects", "TG_EPLUGIN",
         ["hostile_nan"], "hostile_nan greedy", steps=1, plugin="hostile_stages")
    spec("plug-nan-dist", "a stage writes a NaN logit, dist selects", "TG_EPLUGIN",
         ["hostile_nan"], "hostile_nan dist", steps=1, plugin="hostile_stages")
    spec("plug-nan-mirostat", "a stage writes a NaN logit, mirostat_v2 selects", "TG_EPLUGIN",
         ["hostile_nan"], "hostile_nan mirostat_v2", steps=1, plugin="hostile_stages")
    spec("plug-inf-greedy", "a stage writes +inf, greedy selects", "TG_EPLUGIN",
         ["hostile_inf"], "hostile_inf greedy", steps=1, plugin="hostile_stages")
    spec("plug-inf-dist", "a stage writes +inf, dist selects", "TG_EPLUGIN",
         ["hostile_inf"], "hostile_inf dist", steps=1, plugin="hostile_stages")
    spec("plug-sorted-lie", "a stage claims the set is sorted; top_k trusts it", "TG_EPLUGIN",
         ["hostile_sorted_lie"], "hostile_sorted_lie top_k(k=2) greedy", steps=1, plugin="hostile_stages")
    spec("plug-probs-lie", "a stage claims valid probabilities, all negative", "TG_EPLUGIN",
         ["hostile_probs_lie"], "hostile_probs_lie dist", steps=1, plugin="hostile_stages")
    spec("plug-sorted-upside", "a stage claims an ascending pair is sorted", "TG_EPLUGIN",
         ["hostile_sorted_upside", "claims the first 2 candidates are sorted, but candidate 1 (2)"
          " is above candidate 0 (1)"], "hostile_sorted_upside top_k(k=2) greedy", steps=1,
         plugin="hostile_stages")
    spec("plug-sorted-not-top", "a stage claims a sorted prefix that is not the largest",
         "TG_EPLUGIN", ["hostile_sorted_not_top", "a later one has logit 5 above 1"],
         "hostile_sorted_not_top greedy", steps=1, plugin="hostile_stages")
    spec("plug-probs-half", "a stage claims valid probabilities that sum to 0.5", "TG_EPLUGIN",
         ["hostile_probs_half", "they sum to 0.5"], "hostile_probs_half dist", steps=1,
         plugin="hostile_stages")
    spec("plug-bad-id", "a stage writes an id outside the vocabulary", "TG_EPLUGIN",
         ["hostile_bad_id", "candidate 1 has id 19, outside the vocabulary [0, 12)"],
         "hostile_bad_id greedy", steps=1, plugin="hostile_stages")
    spec("plug-empty", "a stage leaves no candidate", "TG_EPLUGIN", ["hostile_empty"],
         "hostile_empty greedy", steps=1, plugin="hostile_stages")
    spec("plug-grow", "a stage sets size past capacity", "TG_EPLUGIN", ["hostile_grow"],
         "hostile_grow greedy", steps=1, plugin="hostile_stages")
    spec("plug-select-out", "a selector selects one past the set", "TG_EPLUGIN",
         ["hostile_select_out"], "hostile_select_out", steps=1, plugin="hostile_stages")
    spec("plug-select-none", "a selector selects nothing", "TG_EPLUGIN", ["hostile_select_none"],
         "hostile_select_none", steps=1, plugin="hostile_stages")
    spec("plug-fail-silent", "a stage fails without a message", "TG_ERROR", ["hostile_fail_silent"],
         "hostile_fail_silent greedy", steps=1, plugin="hostile_stages")
    spec("plug-fail-loud", "a stage fails with its own message", "TG_ERANGE",
         ["the moon is in the wrong phase"], "hostile_fail_loud greedy", steps=1, plugin="hostile_stages")
    spec("plug-fail-weird", "a stage returns 12345, which is no tg_status", "TG_EPLUGIN",
         ["hostile_fail_weird", "12345"], "hostile_fail_weird greedy", steps=1, plugin="hostile_stages")


def plugin_cases():
    case("plug-scan-lying-count", "plugin_scan", "the plugin path holds a descriptor with "
         "n_processors 1000 for an array of 1", "TG_EPLUGIN", ["lying_count.so"],
         args=["{dir}"], base=None,
         setup=[{"op": "copy_plugin", "name": "lying_count"}])
    case("plug-load-lying-params", "plugin_load", "a processor with n_params 64 for a schema of 1",
         "TG_EPLUGIN", ["lying_params"], args=["{plugins}/lying_params.so"], base=None)
    case("plug-group-writable", "plugin_load", "a plugin file writable by group and others",
         "TG_EPLUGIN", ["writable by group or others (mode 0666)"], args=["{dir}/hostile_stages.so"],
         base=None, setup=[{"op": "copy_plugin", "name": "hostile_stages", "mode": "0666"}])
    case("plug-not-a-module", "plugin_load", "a text file named .so", "TG_EPLUGIN",
         ["not a loadable module"], args=["{dir}/fake.so"], base=None,
         files={"fake.so": b"this is not an ELF file\n"})
    case("plug-missing", "plugin_load", "a plugin file that does not exist", "TG_ENOTFOUND",
         ["nowhere.so"], args=["{dir}/nowhere.so"], base=None)
    case("plug-fifo", "plugin_load", "a FIFO named .so", "TG_EPLUGIN", ["not a regular file"],
         args=["{dir}/fifo.so"], base=None, setup=[{"op": "fifo", "file": "fifo.so"}])
    case("plug-twice", "plugin_load", "the same plugin loaded twice (a no-op)", "TG_OK", [],
         args=["{plugins}/hostile_stages.so"], base=None, plugins=["hostile_stages"])


def chain_file_cases():
    def cf(name, about, status, message, text, steps=0, xfail=None):
        case(name, "chain_file", about, status, message, files={"chain.ini": text.encode("latin-1")},
             args=["{dir}", "{dir}/chain.ini", str(steps)], xfail=xfail)

    cf("cf-docs", "the example of docs/sampling.md (control case)", "TG_OK", [],
       "[chain]\nseed=42\n\n[stage repetition_penalty]\npenalty=1.2\nlast_n=64\n\n[stage top_k]\nk=40\n\n"
       "[stage top_p]\np=0.9\n\n[stage dist]\n", steps=2)
    cf("cf-bad-seed", "seed=-1", "TG_ESPEC", ["[chain] seed = '-1' is not an unsigned integer"],
       "[chain]\nseed=-1\n[stage greedy]\n")
    cf("cf-seed-too-big", "seed=2^64", "TG_ESPEC", ["seed"],
       "[chain]\nseed=18446744073709551616\n[stage greedy]\n")
    cf("cf-bad-group", "a group that is neither [chain] nor [stage NAME]", "TG_ESPEC",
       ["group [stages top_k] is neither [chain] nor [stage NAME]"], "[stages top_k]\nk=3\n[stage greedy]\n")
    cf("cf-unknown-key", "a parameter top_k lacks", "TG_ESPEC", ["kk"], "[stage top_k]\nkk=3\n[stage greedy]\n")
    cf("cf-unknown-stage", "an unknown processor", "TG_ESPEC", ["topk"], "[stage topk]\n[stage greedy]\n")
    cf("cf-no-selector", "no selector", "TG_ESPEC", ["selector"], "[stage top_k]\nk=3\n")
    cf("cf-not-keyfile", "a line that is no key=value", "TG_EFORMAT", ["chain.ini", "cannot read chain file"],
       "[stage greedy]\nthis line is wrong\n")
    cf("cf-non-utf8", "an invalid UTF-8 value", "TG_ESPEC", ["chain.ini [stage top_k]", "is not an integer"],
       "[stage top_k]\nk=\xff\n[stage greedy]\n")
    cf("cf-duplicate-group", "[stage top_p] twice, without '#2' (GKeyFile merges the groups)",
       "TG_ESPEC", ["[stage top_p]", "#2"],
       "[stage top_p]\np=0.9\n[stage top_p]\nmin_keep=2\n[stage greedy]\n")
    cf("cf-duplicate-group-same-key", "[stage top_k] twice with k in both", "TG_ESPEC",
       ["group [stage top_k] appears twice (line 3)", "[stage top_k #2]"], "[stage top_k]\nk=3\n[stage top_k]\nk=4\n[stage greedy]\n")
    cf("cf-duplicate-key", "k twice in one group", "TG_ESPEC", ["parameter 'k' of 'top_k' is given twice"],
       "[stage top_k]\nk=3\nk=4\n[stage greedy]\n")
    case("cf-fifo", "chain_file", "a FIFO as the chain file", "TG_EIO", ["chain file", "a FIFO"],
         setup=[{"op": "fifo", "file": "chain.ini"}], args=["{dir}", "{dir}/chain.ini", "0"])
    case("cf-missing", "chain_file", "a chain file that does not exist", "TG_ENOTFOUND",
         ["nowhere.ini"], args=["{dir}", "{dir}/nowhere.ini", "0"])


def snapshot_cases():
    spec = "repetition_penalty(penalty=1.3) top_k(k=8) mirostat_v2(tau=3, eta=0.2)"

    def snap(name, about, status, message, mutation, xfail=None, s=spec):
        case(name, "snapshot", about, status, message, args=["{dir}", s, mutation], xfail=xfail)

    snap("snap-flip-byte", "one byte flipped in the middle", "TG_EFORMAT", ["damaged"], "flip:30")
    snap("snap-flip-checksum", "the checksum itself flipped", "TG_EFORMAT", ["damaged"], "flip:-1")
    snap("snap-truncated", "cut to 20 bytes", "TG_EFORMAT", ["not a chain snapshot"], "truncate:20")
    snap("snap-empty", "0 bytes", "TG_EFORMAT", ["not a chain snapshot (0 bytes)"], "empty")
    snap("snap-magic", "another magic number", "TG_EFORMAT", ["another version of libtextgen"],
         "set:0:54474339")
    snap("snap-other-spec", "restored into a chain of another shape", "TG_EINVAL",
         ["the snapshot has 3 stages, this chain has 1"], "other:greedy")
    snap("snap-history-out-of-vocab", "a history token of 0x7fffffff (checksum recomputed)",
         "TG_EFORMAT", ["history token 0 is 2147483647, outside the vocabulary [0, 12)"],
         "set:32:ffffff7f:sum")
    snap("snap-step-huge", "step 2^40 (checksum recomputed)", "TG_EFORMAT", ["step", "out of range"],
         "set:8:0000000000010000:sum")
    snap("snap-appended", "8 bytes appended after the checksum", "TG_EFORMAT", ["damaged"],
         "append:0000000000000000")
    snap("snap-trailing", "8 bytes inserted before the checksum (checksum recomputed)", "TG_EFORMAT",
         ["8 unexpected bytes after the last stage"], "grow:0000000000000000")
    snap("snap-stage-name", "a stage name changed (checksum recomputed)", "TG_EINVAL",
         ["stage 1 is"], "set:64:787878:sum")
    snap("snap-stage-name-binary", "a stage name of raw bytes 0xff 0xfe (checksum recomputed): the "
         "message must not echo them", "TG_EFORMAT", ["stage 1 of the snapshot has no valid processor name"],
         "set:64:fffe:sum")
    snap("snap-mirostat-nan", "mirostat_v2's mu overwritten with NaN (checksum recomputed)",
         "TG_EFORMAT", ["stage 3 'mirostat_v2'", "mu = nan"], "set:-16:000000000000f87f:sum")
    snap("snap-mirostat-magic", "mirostat_v2's own magic damaged (checksum recomputed)",
         "TG_EFORMAT", ["stage 3 'mirostat_v2'", "not a mirostat_v2 snapshot"], "set:-24:00:sum")


def session_cases():
    case("sess-huge-n-seq", "session", "n_seq 2^30", "TG_ERANGE",
         ["tg_session_options.n_seq = 1073741824 is out of range"], args=["{dir}", str(2 ** 30), "8"])
    # a model of 2^20 positions (wpe is 16 MB of zeros, sparse on disk): 4096 sequences of
    # 2^20 positions need a KV cache of 256 GB
    h = copy_header()
    shift = P * C * 4
    big_wpe = (1 << 20) * C * 4
    for n in h:
        if n != "__metadata__" and h[n]["data_offsets"][0] >= h["wpe.weight"]["data_offsets"][1]:
            h[n]["data_offsets"] = [o - shift + big_wpe for o in h[n]["data_offsets"]]
    h["wpe.weight"]["shape"] = [1 << 20, C]
    h["wpe.weight"]["data_offsets"][1] = h["wpe.weight"]["data_offsets"][0] + big_wpe
    case("sess-kv-cache-256g", "session",
         "4096 sequences x 2^20 positions: a 256 GB KV cache, paged: memory only as it is used",
         "TG_OK", [],
         args=["{dir}", "4096", "0"],
         files={"config.json": tiny_config(n_positions=1 << 20),
                "model.safetensors.header": header_text(h)},
         remove=["model.safetensors"],
         setup=[{"op": "safetensors", "header": "model.safetensors.header",
                 "data": {"zeros": len(BASE_DATA) - shift + big_wpe}}])
    case("sess-ctx-past-model", "session", "n_ctx 16 on a model of 8 positions", "TG_ERANGE",
         ["n_ctx"], args=["{dir}", "1", "16"])
    case("sess-zero-seq", "session", "n_seq 0", "TG_ERANGE", ["n_seq = 0 is out of range"],
         args=["{dir}", "0", "8"])


def cli_cases():
    def cli(name, about, args, exit_code, stderr=(), stdin=b"", stdout=(), xfail=None):
        case(name, "cli", about, args=args, xfail=xfail,
             expect={"exit": exit_code, "stderr": list(stderr), "stdout": list(stdout),
                     "stdin_hex": stdin.hex()})

    cli("cli-stdin-nul", "a NUL byte in the prompt read from stdin", ["-m", "{dir}", "-n", "2"], 2,
        ["holds a NUL byte at offset 2"], stdin=b"ab\x00cd")
    cli("cli-stdin-invalid-utf8", "invalid UTF-8 in the prompt read from stdin",
        ["-m", "{dir}", "-n", "2"], 2, ["stdin"], stdin=b"ab\xffcd")
    cli("cli-temperature-tiny", "--temperature 1e-40 (in range) generates", ["-m", "{dir}", "-n", "3",
        "--temperature", "1e-40", "abc"], 0)
    cli("cli-model-fifo", "-m names a folder whose config.json is a FIFO", ["-m", "{dir}", "abc"], 1,
        ["config.json", "FIFO"])
    CASES[-1]["folder"]["setup"] = [{"op": "fifo", "file": "config.json"}]
    cli("cli-samplers-bad", "--samplers with an unknown processor (a runtime error, docs/cli.md)",
        ["-m", "{dir}", "--samplers", "topp dist", "abc"], 1, ["unknown processor 'topp'"])


def main():
    check = "--check" in sys.argv[1:]
    safetensors_cases()
    config_cases()
    genconfig_cases()
    tokenizer_cases()
    spec_cases()
    plugin_cases()
    chain_file_cases()
    snapshot_cases()
    session_cases()
    cli_cases()
    base = {"base/tiny/config.json": dumps(tiny_config()),
            "base/tiny/model.safetensors": safetensors_bytes(header_text(BASE_HEADER), BASE_DATA),
            "base/tiny/tokenizer.json": dumps(tiny_tokenizer()),
            "base/tiny/generation_config.json": dumps({"do_sample": False, "max_new_tokens": 4})}
    files = dict(base, **FILES)
    manifest = (json.dumps({"cases": CASES}, indent=1) + "\n").encode()

    out = tempfile.mkdtemp() if check else HERE
    corpus = os.path.join(out, "corpus")
    if not check and os.path.isdir(corpus):
        shutil.rmtree(corpus)
    for rel, data in files.items():
        path = os.path.join(corpus, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(os.path.join(out, "manifest.json"), "wb") as f:
        f.write(manifest)
    if check:
        rc = os.system("diff -r -q '%s' '%s' >&2 && cmp -s '%s' '%s'" % (
            corpus, os.path.join(HERE, "corpus"), os.path.join(out, "manifest.json"),
            os.path.join(HERE, "manifest.json")))
        shutil.rmtree(out)
        if rc:
            print("the committed corpus differs from what gen_corpus.py writes: run it and commit",
                  file=sys.stderr)
            return 1
        print("corpus and manifest are up to date (%d cases)" % len(CASES))
        return 0
    print("wrote %d cases, %d files" % (len(CASES), len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
