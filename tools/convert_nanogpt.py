#!/usr/bin/python3
"""Convert a nanoGPT checkpoint (ckpt.pt) into a model folder that libtextgen loads.

    /usr/bin/python3 tools/convert_nanogpt.py out-shakespeare-char/ckpt.pt models/my-char \\
        --meta data/shakespeare_char/meta.pkl
    /usr/bin/python3 tools/convert_nanogpt.py out/ckpt.pt models/my-gpt2 --dtype f16

Input: nanoGPT's `torch.save(checkpoint, 'ckpt.pt')` dict, {'model': state_dict, 'model_args':
{n_layer, n_head, n_embd, block_size, bias, vocab_size, dropout}, ...}. A folder is taken to
hold ckpt.pt. The tokenizer comes from
  * a char-level `meta.pkl` ({'vocab_size', 'itos', 'stoi'}): --meta FILE, else meta.pkl next
    to the checkpoint, else data/<config['dataset']>/meta.pkl as nanoGPT's sample.py finds it;
  * otherwise GPT-2's byte-level BPE (what sample.py uses without meta.pkl): tokenizer.json,
    vocab.json + merges.txt or encoder.json + vocab.bpe from --gpt2-tokenizer DIR (default:
    the project's tests/data/tokenizer/gpt2), copied into the folder.

Output: config.json (model_type gpt2, activation_function "gelu": nanoGPT's nn.GELU() is the
exact erf form; layer_norm_epsilon 1e-5; vocab_size = the checkpoint's, possibly padded, row
count), model.safetensors (HF GPT-2 names, Conv1D [in, out] layout), the tokenizer files, and
generation_config.json (nanoGPT sample.py's defaults: temperature 0.8, top_k 200).

Handled: `_orig_mod.` (torch.compile) and `module.` (DDP) prefixes, bias=False (no bias
tensors are written), padded vocabularies (50257 -> 50304), nn.Linear [out, in] -> Conv1D
[in, out], the tied lm_head (dropped when equal to wte, written as lm_head.weight otherwise),
attn.bias / attn.masked_bias buffers (dropped). The safetensors file is written here (no
safetensors package needed). Uses only torch and the standard library.
"""

import argparse
import json
import os
import pickle
import re
import shutil
import struct
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GPT2_TOKENIZER = os.path.join(REPO_ROOT, "tests", "data", "tokenizer", "gpt2")
GPT2_VOCAB = 50257
GPT2_EOT = 50256

ST = {"f32": ("F32", 4), "f16": ("F16", 2), "bf16": ("BF16", 2)}


class ConvertError(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Reading the checkpoint
# ---------------------------------------------------------------------------------------
STORAGE_DTYPES = {"FloatStorage": "float32", "HalfStorage": "float16",
                  "BFloat16Storage": "bfloat16", "DoubleStorage": "float64",
                  "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
                  "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    import torch
    return torch.as_strided(storage, tuple(size), tuple(stride), storage_offset)


def _rebuild_parameter(data, *rest):
    return data


def read_torch_zip(path):
    """Read a torch.save() zip file (PyTorch >= 1.6, what nanoGPT writes) without running any
    code from it: the pickle may only name tensors, containers and plain values; any other
    global (a class or function a malicious file could call) is refused. Independent of
    torch.load, whose weights_only loader refuses floats in PyTorch 1.13 and which ignores a
    custom pickle_module there."""
    import io
    import zipfile

    import torch

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ConvertError("%s: not a torch.save() archive (no data.pkl)" % path)
        prefix = pkls[0][: -len("data.pkl")]
        if prefix + "byteorder" in names and z.read(prefix + "byteorder") != b"little":
            raise ConvertError("%s: big-endian checkpoints are not supported" % path)
        storages = {}

        class Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if module == "torch" and name in STORAGE_DTYPES:
                    return _StorageType(getattr(torch, STORAGE_DTYPES[name]))
                if (module, name) in (("torch._utils", "_rebuild_tensor_v2"),
                                      ("torch._utils", "_rebuild_tensor")):
                    return _rebuild_tensor
                if (module, name) in (("torch._utils", "_rebuild_parameter"),
                                      ("torch._utils", "_rebuild_parameter_with_state")):
                    return _rebuild_parameter
                if (module, name) == ("collections", "OrderedDict"):
                    import collections
                    return collections.OrderedDict
                if module == "torch" and name in ("Size",):
                    return torch.Size
                if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
                    return getattr(torch, name)
                raise pickle.UnpicklingError("refusing to load the global %s.%s" % (module, name))

            def persistent_load(self, pid):
                if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
                        and isinstance(pid[1], _StorageType)):
                    raise pickle.UnpicklingError("unsupported persistent id %r" % (pid[:2],))
                stype, key = pid[1], str(pid[2])
                if key not in storages:
                    raw = z.read(prefix + "data/" + key)
                    storages[key] = (torch.frombuffer(bytearray(raw), dtype=stype.dtype) if raw
                                     else torch.empty(0, dtype=stype.dtype))
                return storages[key]

        return Unpickler(io.BytesIO(z.read(pkls[0])), encoding="utf-8").load()


def _first_line(e):
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def load_checkpoint(path, trust_pickle):
    import zipfile

    import torch
    if os.path.isdir(path):
        path = os.path.join(path, "ckpt.pt")
    if not os.path.isfile(path):
        raise ConvertError("%s: no such checkpoint file" % path)
    if trust_pickle:
        try:
            try:
                return path, torch.load(path, map_location="cpu", weights_only=False)
            except TypeError:  # torch < 1.13: no weights_only argument
                return path, torch.load(path, map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise ConvertError("%s: cannot read the checkpoint: %s" % (path, _first_line(e)))
    if not zipfile.is_zipfile(path):
        raise ConvertError("%s: cannot read the checkpoint: not a torch.save() zip archive "
                           "(a file saved by PyTorch < 1.6 needs --trust-pickle, only for files "
                           "you trust)" % path)
    try:
        return path, read_torch_zip(path)
    except pickle.UnpicklingError as e:
        first = _first_line(e)
    except (zipfile.BadZipFile, KeyError, EOFError, ValueError, TypeError, RuntimeError) as e:
        first = _first_line(e)
    # An archive this reader does not understand: torch's own safe loader, where available.
    try:
        return path, torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - TypeError on old torch, UnpicklingError, ...
        pass
    hint = ""
    if "refusing to load" in first:
        hint = (" (the file holds objects other than tensors and plain values; if you trust "
                "it, retry with --trust-pickle)")
    raise ConvertError("%s: cannot read the checkpoint: %s%s" % (path, first, hint))


def state_dict_of(ck, path):
    import torch
    if isinstance(ck, dict) and "model" in ck and isinstance(ck["model"], dict):
        sd = ck["model"]
    elif isinstance(ck, dict) and ck and all(isinstance(v, torch.Tensor) for v in ck.values()):
        sd = ck  # a bare state_dict
    else:
        keys = sorted(ck)[:8] if isinstance(ck, dict) else type(ck).__name__
        raise ConvertError("%s: not a nanoGPT checkpoint: expected a dict with a 'model' "
                           "state_dict (found %s)" % (path, keys))
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise ConvertError("%s: state_dict entry %r is not a tensor" % (path, k))
        name = k
        for pre in ("_orig_mod.", "module."):
            while name.startswith(pre):
                name = name[len(pre):]
        if name in out:
            raise ConvertError("%s: %r appears twice (after removing prefixes)" % (path, name))
        out[name] = v
    return out


def model_args_of(ck, sd, path, n_head_opt):
    """nanoGPT's model_args, completed from the tensor shapes where possible."""
    args = dict(ck.get("model_args") or {}) if isinstance(ck, dict) else {}
    if "transformer.wte.weight" not in sd:
        raise ConvertError("%s: no transformer.wte.weight in the state_dict: not a nanoGPT GPT "
                           "(keys start with %s)" % (path, sorted(sd)[:5]))
    V, C = sd["transformer.wte.weight"].shape
    if "transformer.wpe.weight" not in sd:
        raise ConvertError("%s: no transformer.wpe.weight in the state_dict" % path)
    P = sd["transformer.wpe.weight"].shape[0]
    layers = {int(m.group(1)) for k in sd for m in [re.match(r"transformer\.h\.(\d+)\.", k)] if m}
    L = len(layers)
    if L == 0 or layers != set(range(L)):
        raise ConvertError("%s: transformer blocks are missing or not numbered 0..n-1 (%s)" %
                           (path, sorted(layers)))
    inferred = {"vocab_size": V, "n_embd": C, "block_size": P, "n_layer": L,
                "bias": "transformer.ln_f.bias" in sd}
    for k, v in inferred.items():
        if k in args and args[k] is not None and args[k] != v:
            raise ConvertError("%s: model_args[%r] = %r but the tensors say %r" %
                               (path, k, args[k], v))
        args[k] = v
    if n_head_opt:
        if args.get("n_head") not in (None, n_head_opt):
            raise ConvertError("%s: --n-head %d contradicts model_args n_head %d" %
                               (path, n_head_opt, args["n_head"]))
        args["n_head"] = n_head_opt
    if not args.get("n_head"):
        raise ConvertError("%s: model_args has no n_head (the tensors do not tell it): pass "
                           "--n-head" % path)
    if C % args["n_head"]:
        raise ConvertError("%s: n_embd %d is not divisible by n_head %d" %
                           (path, C, args["n_head"]))
    return args


# ---------------------------------------------------------------------------------------
# Renaming
# ---------------------------------------------------------------------------------------
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
BLOCK_PARAMS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")


def hf_tensors(sd, args, path):
    """nanoGPT names -> HF GPT-2 names (no `transformer.` prefix), Conv1D layout."""
    import torch
    C, L, bias = args["n_embd"], args["n_layer"], args["bias"]
    out = {}
    for name, t in sd.items():
        if name == "lm_head.weight":
            continue
        if not name.startswith("transformer."):
            raise ConvertError("%s: unexpected tensor %r" % (path, name))
        hf = name[len("transformer."):]
        m = re.match(r"h\.(\d+)\.(.*)$", hf)
        if m and m.group(2) in ("attn.bias", "attn.masked_bias"):
            continue  # causal-mask buffers (PyTorch < 2.0)
        if m and m.group(2) not in BLOCK_PARAMS:
            raise ConvertError("%s: unexpected tensor %r" % (path, name))
        if not m and hf not in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"):
            raise ConvertError("%s: unexpected tensor %r" % (path, name))
        if m and m.group(2) in CONV1D:
            if t.dim() != 2:
                raise ConvertError("%s: %r should be a matrix, shape %s" %
                                   (path, name, list(t.shape)))
            t = t.t()
        out[hf] = t.detach().to(torch.float32).contiguous()
    # Every expected tensor, with its shape.
    I = 4 * C
    want = {"wte.weight": (args["vocab_size"], C), "wpe.weight": (args["block_size"], C),
            "ln_f.weight": (C,)}
    per = {"ln_1.weight": (C,), "attn.c_attn.weight": (C, 3 * C), "attn.c_proj.weight": (C, C),
           "ln_2.weight": (C,), "mlp.c_fc.weight": (C, I), "mlp.c_proj.weight": (I, C)}
    if bias:
        want["ln_f.bias"] = (C,)
        per.update({"ln_1.bias": (C,), "attn.c_attn.bias": (3 * C,), "attn.c_proj.bias": (C,),
                    "ln_2.bias": (C,), "mlp.c_fc.bias": (I,), "mlp.c_proj.bias": (C,)})
    for i in range(L):
        want.update({"h.%d.%s" % (i, k): v for k, v in per.items()})
    for k, shape in want.items():
        if k not in out:
            raise ConvertError("%s: missing tensor transformer.%s%s" %
                               (path, k, " (bias=True needs every bias)" if "bias" in k else ""))
        if tuple(out[k].shape) != shape:
            nano = shape[::-1] if any(k.endswith(c) for c in CONV1D) else shape
            got = tuple(out[k].shape)[::-1] if any(k.endswith(c) for c in CONV1D) else \
                tuple(out[k].shape)
            raise ConvertError("%s: transformer.%s has shape %s, expected %s" %
                               (path, k, list(got), list(nano)))
    extra = sorted(set(out) - set(want))
    if extra:
        raise ConvertError("%s: bias=False but the checkpoint has bias tensors: %s" %
                           (path, ", ".join("transformer." + e for e in extra[:4])))
    tied = True
    if "lm_head.weight" in sd:
        head = sd["lm_head.weight"]
        if tuple(head.shape) != (args["vocab_size"], C):
            raise ConvertError("%s: lm_head.weight has shape %s, expected %s" %
                               (path, list(head.shape), [args["vocab_size"], C]))
        if not torch.equal(head.to(torch.float32), out["wte.weight"]):
            out["lm_head.weight"] = head.detach().to(torch.float32).contiguous()
            tied = False
    return out, tied


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
def tensor_bytes(t, dtype):
    import torch
    tdt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    t = t.to(tdt).contiguous()
    if tdt == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype):
    st_name, size = ST[dtype]
    header, blobs, off = {}, [], 0
    for name in sorted(tensors, key=lambda n: (-size, n)):
        raw = tensor_bytes(tensors[name], dtype)
        header[name] = {"dtype": st_name, "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt", "converted_by": "libtextgen convert_nanogpt.py"}
    hj = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def dump_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, sort_keys=True)
        f.write("\n")


def find_meta(args_ns, ck_path, ck):
    if args_ns.meta:
        if not os.path.isfile(args_ns.meta):
            raise ConvertError("%s: no such meta.pkl" % args_ns.meta)
        return args_ns.meta
    if args_ns.gpt2:
        return None
    here = os.path.join(os.path.dirname(os.path.abspath(ck_path)), "meta.pkl")
    if os.path.isfile(here):
        return here
    cfg = ck.get("config") if isinstance(ck, dict) else None
    if isinstance(cfg, dict) and isinstance(cfg.get("dataset"), str):
        for base in (os.getcwd(), os.path.dirname(os.path.dirname(os.path.abspath(ck_path)))):
            p = os.path.join(base, "data", cfg["dataset"], "meta.pkl")
            if os.path.isfile(p):
                return p
    return None


def char_tokenizer(meta_path, vocab_size):
    with open(meta_path, "rb") as f:
        try:
            meta = pickle.load(f)
        except Exception as e:  # noqa: BLE001
            raise ConvertError("%s: cannot unpickle: %s" % (meta_path, e))
    if not isinstance(meta, dict) or "itos" not in meta:
        raise ConvertError("%s: expected a dict with 'itos' (and 'stoi', 'vocab_size'); found %s"
                           % (meta_path, sorted(meta)[:8] if isinstance(meta, dict)
                              else type(meta).__name__))
    itos = meta["itos"]
    n = len(itos)
    if meta.get("vocab_size", n) != n or sorted(itos) != list(range(n)):
        raise ConvertError("%s: itos must map ids 0..vocab_size-1 without gaps" % meta_path)
    vocab = {}
    for i in range(n):
        s = itos[i]
        if not isinstance(s, str) or s == "":
            raise ConvertError("%s: itos[%d] = %r is not a non-empty string" % (meta_path, i, s))
        if s in vocab:
            raise ConvertError("%s: itos[%d] = %r repeats itos[%d]" % (meta_path, i, s, vocab[s]))
        vocab[s] = i
    if n > vocab_size:
        raise ConvertError("%s: %d characters but the model has only %d embedding rows" %
                           (meta_path, n, vocab_size))
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }
    return tok, n


def copy_gpt2_tokenizer(src, out):
    """Copies GPT-2's files into `out`; returns the list of written names."""
    if not os.path.isdir(src):
        raise ConvertError("%s: no GPT-2 tokenizer folder (pass --gpt2-tokenizer DIR holding "
                           "tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe, "
                           "or --meta for a char model)" % src)
    for names in (("tokenizer.json",), ("vocab.json", "merges.txt"),
                  ("encoder.json", "vocab.bpe")):
        if all(os.path.isfile(os.path.join(src, n)) for n in names):
            dst_names = {"encoder.json": "vocab.json", "vocab.bpe": "merges.txt"}
            written = []
            for n in names:
                d = dst_names.get(n, n)
                shutil.copyfile(os.path.join(src, n), os.path.join(out, d))
                written.append(d)
            return written
    raise ConvertError("%s: holds neither tokenizer.json, vocab.json + merges.txt nor "
                       "encoder.json + vocab.bpe" % src)


def convert(ns):
    ck_path, ck = load_checkpoint(ns.checkpoint, ns.trust_pickle)
    sd = state_dict_of(ck, ck_path)
    margs = model_args_of(ck, sd, ck_path, ns.n_head)
    tensors, tied = hf_tensors(sd, margs, ck_path)
    V = margs["vocab_size"]

    meta = find_meta(ns, ck_path, ck)
    if os.path.exists(ns.out) and not os.path.isdir(ns.out):
        raise ConvertError("%s exists and is not a folder" % ns.out)
    os.makedirs(ns.out, exist_ok=True)
    for stale in ("tokenizer.json", "vocab.json", "merges.txt"):
        p = os.path.join(ns.out, stale)
        if os.path.isfile(p):
            os.remove(p)
    if meta:
        tok, n_tok = char_tokenizer(meta, V)
        dump_json(os.path.join(ns.out, "tokenizer.json"), tok, indent=None)
        tok_desc = "characters from %s" % meta
        bos = eos = None
    else:
        if V < GPT2_VOCAB:
            raise ConvertError("%s: vocab_size %d is smaller than GPT-2's %d and no meta.pkl was "
                               "found: pass --meta" % (ck_path, V, GPT2_VOCAB))
        files = copy_gpt2_tokenizer(ns.gpt2_tokenizer, ns.out)
        n_tok = GPT2_VOCAB
        tok_desc = "GPT-2 BPE (%s)" % " + ".join(files)
        bos = eos = GPT2_EOT

    write_safetensors(os.path.join(ns.out, "model.safetensors"), tensors, ns.dtype)
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": V,
        "n_positions": margs["block_size"],
        "n_ctx": margs["block_size"],
        "n_embd": margs["n_embd"],
        "n_layer": margs["n_layer"],
        "n_head": margs["n_head"],
        "n_inner": 4 * margs["n_embd"],
        "activation_function": "gelu",
        "layer_norm_epsilon": 1e-5,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "tie_word_embeddings": tied,
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[ns.dtype],
        "nanogpt": {"bias": margs["bias"], "dropout": margs.get("dropout"),
                    "tokenizer_vocab_size": n_tok, "iter_num": ck.get("iter_num"),
                    "best_val_loss": _plain(ck.get("best_val_loss"))},
    }
    dump_json(os.path.join(ns.out, "config.json"), config)
    gen = {"do_sample": True, "temperature": 0.8, "top_k": 200, "max_new_tokens": 500}
    if eos is not None:
        gen["eos_token_id"] = eos
    gp = os.path.join(ns.out, "generation_config.json")
    if not os.path.exists(gp) or ns.overwrite_generation_config:
        dump_json(gp, gen)
    n_params = sum(t.numel() for t in tensors.values())
    print("%s -> %s: %d layers, %d heads, width %d, context %d, vocab %d%s, bias %s, %s head, "
          "%.2fM parameters as %s; tokenizer: %s (%d tokens)" %
          (ck_path, ns.out, margs["n_layer"], margs["n_head"], margs["n_embd"],
           margs["block_size"], V, " (padded)" if V > n_tok else "", margs["bias"],
           "tied" if tied else "separate", n_params / 1e6, ST[ns.dtype][0], tok_desc, n_tok))


def _plain(v):
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Convert a nanoGPT ckpt.pt into a libtextgen/Hugging Face GPT-2 folder.")
    ap.add_argument("checkpoint", help="ckpt.pt, or nanoGPT's out_dir holding it")
    ap.add_argument("out", help="output model folder (created)")
    ap.add_argument("--meta", help="char-level meta.pkl (default: next to the checkpoint or "
                                   "data/<dataset>/meta.pkl)")
    ap.add_argument("--gpt2", action="store_true",
                    help="use GPT-2's BPE even if a meta.pkl is found")
    ap.add_argument("--gpt2-tokenizer", default=DEFAULT_GPT2_TOKENIZER, metavar="DIR",
                    help="folder with GPT-2's tokenizer files (default: %(default)s)")
    ap.add_argument("--dtype", choices=sorted(ST), default="f32",
                    help="storage type of the weights (default f32)")
    ap.add_argument("--n-head", type=int, help="heads, when model_args lacks n_head")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="let torch.load unpickle arbitrary objects (only for files you trust)")
    ap.add_argument("--overwrite-generation-config", action="store_true",
                    help="replace an existing generation_config.json in the output folder")
    ns = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("convert_nanogpt.py: PyTorch is needed (Debian: apt install python3-torch; run "
                 "with /usr/bin/python3)")
    try:
        convert(ns)
    except ConvertError as e:
        sys.exit("convert_nanogpt.py: error: %s" % e)


if __name__ == "__main__":
    main()
