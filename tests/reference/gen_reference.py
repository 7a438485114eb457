#!/usr/bin/python3
"""Generate tiny GPT-2-style model folders plus PyTorch reference outputs.

Run with Debian's interpreter (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_reference.py           # (re)write folders
    /usr/bin/python3 tests/reference/gen_reference.py --check   # verify folders

Every case folder tests/data/models/<case>/ gets config.json, model.safetensors and
reference.json.  Output is byte-identical from run to run (fixed seeds, sorted keys).
The GPT-2 below is a self-contained PyTorch implementation; it does not use
transformers or safetensors (neither is installed).  See README.md next to this file.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data", "models")

PROMPT_LEN = 20
GREEDY_STEPS = 50
BATCH_LENS = (5, 9, 13, 17)
MIN_MARGIN = 0.03

# ---------------------------------------------------------------------------------------
# Cases.  Seeds were picked (by trying consecutive seeds once) so that every greedy step
# of the case and of the cases derived from it has a top-1/top-2 logit margin of at
# least MIN_MARGIN; generation fails loudly if that ever stops being true.
# "weights_from" reuses another case's float32 weights and prompts (then rounded
# to the case's dtype).  "buffer_dtype" is the dtype of the ignored attn.bias/masked_bias
# buffers (None = same as the weights).
# ---------------------------------------------------------------------------------------
CASES = [
    dict(name="hf_tanh_bias", seed=1031, V=97, P=96, C=48, H=4, L=2, n_inner=None,
         act="gelu_new", eps=1e-5, bias=True, prefix="", lm_head=False, buffers=True,
         dtype="F32"),
    dict(name="hf_f16", weights_from="hf_tanh_bias", dtype="F16", buffer_dtype="F32"),
    dict(name="hf_bf16", weights_from="hf_tanh_bias", dtype="BF16"),
    dict(name="hf_prefix_erf", seed=1006, V=101, P=72, C=60, H=5, L=3, n_inner=80,
         act="gelu", eps=1e-6, bias=True, prefix="transformer.", lm_head=True,
         buffers=False, dtype="F32"),
    dict(name="nobias", seed=1008, V=89, P=80, C=42, H=3, L=2, n_inner=None,
         act="gelu", eps=1e-5, bias=False, prefix="", lm_head=False, buffers=False,
         dtype="F32"),
    dict(name="gelu_pytorch_tanh", seed=1030, V=131, P=96, C=48, H=4, L=2, n_inner=None,
         act="gelu_pytorch_tanh", eps=1e-5, bias=True, prefix="", lm_head=False,
         buffers=True, dtype="F32"),
]

TORCH_DTYPE_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}


def resolve(case):
    """Fill a derived case from its base case."""
    if "weights_from" not in case:
        return dict(case)
    base = next(c for c in CASES if c["name"] == case["weights_from"])
    full = dict(base)
    full.update(case)
    return full


# ---------------------------------------------------------------------------------------
# Weights (float32, HF GPT-2 names without prefix, Conv1D [in, out] layout)
# ---------------------------------------------------------------------------------------
def make_weights(c):
    g = torch.Generator().manual_seed(c["seed"])
    V, P, C, L = c["V"], c["P"], c["C"], c["L"]
    I = c["n_inner"] or 4 * C

    def mat(*shape):
        return (torch.randn(*shape, generator=g, dtype=torch.float32) * 0.2).contiguous()

    def lnw(n):
        return (1.0 + torch.randn(n, generator=g, dtype=torch.float32) * 0.1).contiguous()

    def bias(n):
        return (torch.randn(n, generator=g, dtype=torch.float32) * 0.05).contiguous()

    w = {"wte.weight": mat(V, C), "wpe.weight": mat(P, C)}
    for i in range(L):
        p = "h.%d." % i
        w[p + "ln_1.weight"] = lnw(C)
        if c["bias"]:
            w[p + "ln_1.bias"] = bias(C)
        w[p + "attn.c_attn.weight"] = mat(C, 3 * C)
        if c["bias"]:
            w[p + "attn.c_attn.bias"] = bias(3 * C)
        w[p + "attn.c_proj.weight"] = mat(C, C)
        if c["bias"]:
            w[p + "attn.c_proj.bias"] = bias(C)
        w[p + "ln_2.weight"] = lnw(C)
        if c["bias"]:
            w[p + "ln_2.bias"] = bias(C)
        w[p + "mlp.c_fc.weight"] = mat(C, I)
        if c["bias"]:
            w[p + "mlp.c_fc.bias"] = bias(I)
        w[p + "mlp.c_proj.weight"] = mat(I, C)
        if c["bias"]:
            w[p + "mlp.c_proj.bias"] = bias(C)
    w["ln_f.weight"] = lnw(C)
    if c["bias"]:
        w["ln_f.bias"] = bias(C)
    if c["lm_head"]:
        w["lm_head.weight"] = mat(V, C)
    return w


def make_prompts(c):
    g = torch.Generator().manual_seed(c["seed"] + 500000)
    V = c["V"]
    prompt = torch.randint(0, V, (PROMPT_LEN,), generator=g).tolist()
    batch = [torch.randint(0, V, (n,), generator=g).tolist() for n in BATCH_LENS]
    return prompt, batch


def round_to(t, dtype):
    """float32 tensor -> tensor of the storage dtype (round-to-nearest-even)."""
    if dtype == "F32":
        return t.to(torch.float32)
    if dtype == "F16":
        return t.to(torch.float16)
    if dtype == "BF16":
        return t.to(torch.bfloat16)
    raise ValueError(dtype)


def tensor_bytes(t, dtype):
    t = round_to(t, dtype).contiguous()
    if dtype == "F32":
        arr = t.numpy().astype("<f4")
    else:
        arr = t.view(torch.int16).numpy().astype("<i2")  # raw bits (F16 or BF16)
    return arr.tobytes()


# ---------------------------------------------------------------------------------------
# The reference GPT-2 (plain tensor ops, float64 by default)
# ---------------------------------------------------------------------------------------
def gelu(x, act):
    if act in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if act == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    raise ValueError(act)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps) * w
    return y if b is None else y + b


def linear(x, w, b):  # Conv1D: w is [in, out]
    y = x @ w
    return y if b is None else y + b


def gpt2_forward(w, c, ids):
    """w: dict bare-name -> tensor (any float dtype); returns logits [T, V] in w's dtype."""
    T = len(ids)
    C, H, eps, act = c["C"], c["H"], c["eps"], c["act"]
    D = C // H
    ids_t = torch.tensor(ids, dtype=torch.long)
    x = w["wte.weight"][ids_t] + w["wpe.weight"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(c["L"]):
        p = "h.%d." % i
        h = layer_norm(x, w[p + "ln_1.weight"], w.get(p + "ln_1.bias"), eps)
        qkv = linear(h, w[p + "attn.c_attn.weight"], w.get(p + "attn.c_attn.bias"))
        q, k, v = qkv.split(C, dim=-1)
        q = q.reshape(T, H, D).transpose(0, 1)  # [H, T, D]
        k = k.reshape(T, H, D).transpose(0, 1)
        v = v.reshape(T, H, D).transpose(0, 1)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + linear(y, w[p + "attn.c_proj.weight"], w.get(p + "attn.c_proj.bias"))
        h = layer_norm(x, w[p + "ln_2.weight"], w.get(p + "ln_2.bias"), eps)
        h = gelu(linear(h, w[p + "mlp.c_fc.weight"], w.get(p + "mlp.c_fc.bias")), act)
        x = x + linear(h, w[p + "mlp.c_proj.weight"], w.get(p + "mlp.c_proj.bias"))
    x = layer_norm(x, w["ln_f.weight"], w.get("ln_f.bias"), eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["wte.weight"]
    return x @ head.t()


def compute_reference(w64, c, prompt, batch):
    """w64: float64 weights. Returns (reference dict, min greedy top-1/top-2 margin)."""
    with torch.no_grad():
        logits = gpt2_forward(w64, c, prompt)
        seq = list(prompt)
        greedy, margins, last = [], [], None
        for _ in range(GREEDY_STEPS):
            last = gpt2_forward(w64, c, seq)[-1]
            top2 = torch.topk(last, 2).values
            margins.append(float(top2[0] - top2[1]))
            nxt = int(torch.argmax(last))
            greedy.append(nxt)
            seq.append(nxt)
        batch_logits = [gpt2_forward(w64, c, b)[-1] for b in batch]
    ref = {
        "prompt": prompt,
        "logits": [f32_list(r) for r in logits],
        "greedy": greedy,
        "greedy_last_logits": f32_list(last),
        "batch_prompts": batch,
        "batch_logits": [f32_list(r) for r in batch_logits],
    }
    return ref, min(margins)


def f32_list(t):
    """float64 tensor -> list of Python floats whose repr is the shortest float32 repr."""
    return [float(str(v)) for v in t.to(torch.float32).numpy()]


# ---------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------
def build_safetensors(entries):
    """entries: list of (name, dtype, shape, raw bytes). Returns the file bytes."""
    order = sorted(entries, key=lambda e: (-ITEMSIZE[e[1]], e[0]))
    header, buf, off = {}, [], 0
    for name, dtype, shape, raw in order:
        assert name not in header, name
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        buf.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    return struct.pack("<Q", len(hj)) + hj + b"".join(buf)


def file_entries(c, w32):
    """Tensor list of the model file: HF names (+ prefix), buffers, storage dtype."""
    dt = c["dtype"]
    bdt = c.get("buffer_dtype") or dt
    pre = c["prefix"]
    out = []
    for name, t in w32.items():
        full = name if name == "lm_head.weight" else pre + name
        out.append((full, dt, tuple(t.shape), tensor_bytes(t, dt)))
    if c["buffers"]:
        P = c["P"]
        mask = torch.ones(P, P, dtype=torch.float32).tril().reshape(1, 1, P, P)
        mb = torch.tensor(-1e4, dtype=torch.float32)
        for i in range(c["L"]):
            p = pre + "h.%d.attn." % i
            out.append((p + "bias", bdt, (1, 1, P, P), tensor_bytes(mask, bdt)))
            out.append((p + "masked_bias", bdt, (), tensor_bytes(mb, bdt)))
    return out


def config_json(c):
    cfg = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c["V"],
        "n_positions": c["P"],
        "n_ctx": c["P"],
        "n_embd": c["C"],
        "n_layer": c["L"],
        "n_head": c["H"],
        "n_inner": c["n_inner"],
        "activation_function": c["act"],
        "layer_norm_epsilon": c["eps"],
        "bos_token_id": c["V"] - 1,
        "eos_token_id": c["V"] - 1,
        # Keys a real HF config also carries; a loader must ignore them.
        "attn_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "resid_pdrop": 0.1,
        "initializer_range": 0.02,
        "torch_dtype": TORCH_DTYPE_NAME[c["dtype"]],
    }
    if c["lm_head"]:
        cfg["tie_word_embeddings"] = False
    return (json.dumps(cfg, sort_keys=True, indent=2) + "\n").encode("utf-8")


def reference_json(ref):
    """Sorted keys, one top-level key per line, one logits row per line."""
    lines = []
    keys = sorted(ref)
    for i, k in enumerate(keys):
        v = ref[k]
        if v and isinstance(v[0], list):
            rows = ",\n    ".join(json.dumps(r, separators=(",", ":")) for r in v)
            s = "[\n    " + rows + "\n  ]"
        else:
            s = json.dumps(v, separators=(",", ":"))
        lines.append("  %s: %s%s" % (json.dumps(k), s, "," if i + 1 < len(keys) else ""))
    return ("{\n" + "\n".join(lines) + "\n}\n").encode("utf-8")


def build_case(case):
    """Returns (resolved case, {filename: bytes}, min greedy margin)."""
    c = resolve(case)
    w32 = make_weights(c)
    prompt, batch = make_prompts(c)
    # Reference computed from the weights exactly as stored (rounded for F16/BF16).
    w64 = {k: round_to(t, c["dtype"]).to(torch.float64) for k, t in w32.items()}
    ref, margin = compute_reference(w64, c, prompt, batch)
    files = {
        "config.json": config_json(c),
        "model.safetensors": build_safetensors(file_entries(c, w32)),
        "reference.json": reference_json(ref),
    }
    return c, files, margin


# ---------------------------------------------------------------------------------------
# --check: independent safetensors parse + replay of the reference from the file
# ---------------------------------------------------------------------------------------
def read_safetensors_checked(path):
    data = open(path, "rb").read()
    assert len(data) >= 8, "file too short"
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header length %d not a multiple of 8" % n
    assert 8 + n <= len(data), "header overruns file"
    raw = data[8:8 + n]
    assert raw[:1] == b"{", "header must start with {"
    text = raw.decode("utf-8")
    stripped = text.rstrip(" ")
    assert stripped.endswith("}"), "header padding must be spaces after the JSON"

    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), "duplicate keys"
        return dict(pairs)

    header = json.loads(stripped, object_pairs_hook=no_dups)
    meta = header.pop("__metadata__", None)
    assert meta is None or all(isinstance(v, str) for v in meta.values()), "metadata not str->str"
    buf = data[8 + n:]
    size = {"F32": 4, "F16": 2, "BF16": 2}
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for b, e, k in spans:
        assert b == pos, "%s: hole/overlap at %d (expected %d)" % (k, b, pos)
        pos = e
    assert pos == len(buf), "buffer has %d trailing bytes" % (len(buf) - pos)
    out = {}
    for k, v in header.items():
        dt, shape = v["dtype"], v["shape"]
        b, e = v["data_offsets"]
        numel = 1
        for d in shape:
            numel *= d
        assert e - b == numel * size[dt], "%s: size %d != numel*itemsize" % (k, e - b)
        assert (8 + n + b) % size[dt] == 0, "%s: misaligned" % k
        chunk = buf[b:e]
        if dt == "F32":
            a = np.frombuffer(chunk, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            a = np.frombuffer(chunk, dtype="<f2").astype(np.float64)
        else:  # BF16: bits become the top half of an f32
            a = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
        out[k] = (dt, a.reshape(shape))
    return out


def check_case(case, out_dir):
    c, files, _ = build_case(case)
    d = os.path.join(out_dir, c["name"])
    for fn, content in files.items():
        with open(os.path.join(d, fn), "rb") as f:
            assert f.read() == content, "%s/%s differs from a fresh generation" % (c["name"], fn)
    tensors = read_safetensors_checked(os.path.join(d, "model.safetensors"))
    cfg = json.load(open(os.path.join(d, "config.json")))
    ref = json.load(open(os.path.join(d, "reference.json")))
    assert sorted(ref) == ["batch_logits", "batch_prompts", "greedy", "greedy_last_logits",
                           "logits", "prompt"]
    cc = {"C": cfg["n_embd"], "H": cfg["n_head"], "L": cfg["n_layer"],
          "eps": cfg["layer_norm_epsilon"], "act": cfg["activation_function"]}
    w = {}
    for k, (dt, a) in tensors.items():
        if k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"):
            continue
        name = k[len("transformer."):] if k.startswith("transformer.") else k
        w[name] = torch.from_numpy(a.copy())
    V = cfg["vocab_size"]
    assert tuple(w["wte.weight"].shape) == (V, cc["C"])
    with torch.no_grad():
        got = gpt2_forward(w, cc, ref["prompt"]).numpy()
        exp = np.array(ref["logits"])
        assert got.shape == exp.shape == (PROMPT_LEN, V)
        err = np.max(np.abs(got - exp) / (np.abs(exp) + 1e-3))
        assert err < 1e-6, "prompt logits mismatch %g" % err
        seq = list(ref["prompt"])
        for tok in ref["greedy"]:
            last = gpt2_forward(w, cc, seq)[-1]
            assert int(torch.argmax(last)) == tok, "greedy mismatch"
            seq.append(tok)
        assert np.max(np.abs(last.numpy() - np.array(ref["greedy_last_logits"]))) < 1e-5
        for p, row in zip(ref["batch_prompts"], ref["batch_logits"]):
            got = gpt2_forward(w, cc, p)[-1].numpy()
            assert np.max(np.abs(got - np.array(row))) < 1e-5, "batch logits mismatch"
    assert [len(p) for p in ref["batch_prompts"]] == list(BATCH_LENS)
    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert total < 1 << 20, "%s is %d bytes" % (c["name"], total)
    dts = sorted({dt for dt, _ in tensors.values()})
    print("ok  %-18s %3d tensors  dtypes %-10s  %7d bytes" % (c["name"], len(tensors), ",".join(dts), total))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="verify the folders instead of writing")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check:
        for case in CASES:
            check_case(case, args.out)
        return 0
    for case in CASES:
        c, files, margin = build_case(case)
        if margin < MIN_MARGIN:
            sys.exit("%s: greedy margin %g < %g; pick another seed" % (c["name"], margin, MIN_MARGIN))
        d = os.path.join(args.out, c["name"])
        os.makedirs(d, exist_ok=True)
        for fn, content in files.items():
            with open(os.path.join(d, fn), "wb") as f:
                f.write(content)
        print("wrote %-18s V=%d P=%d C=%d H=%d L=%d inner=%d %s %s; min greedy margin %.4f"
              % (c["name"], c["V"], c["P"], c["C"], c["H"], c["L"], c["n_inner"] or 4 * c["C"],
                 c["act"], c["dtype"], margin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
