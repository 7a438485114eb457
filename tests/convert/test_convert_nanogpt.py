#!/usr/bin/python3
"""tools/convert_nanogpt.py end to end.

PyTorch builds tiny GPTs with nanoGPT's own module and parameter names (model.py of
karpathy/nanoGPT, reproduced below), trains them a few steps, saves ckpt.pt in train.py's
checkpoint layout (plus meta.pkl for char models), runs the converter, and compares the logits
that libtextgen computes from the converted folder (tests/convert/nanogpt_logits.c) with
PyTorch's, within 1e-4. Variants cover `_orig_mod.` prefixes, bias=False, a padded GPT-2
vocabulary with the GPT-2 tokenizer, F16/BF16 storage, meta.pkl discovery, and the
converter's error messages.

Exit status: 0 pass, 1 failure, 77 skipped (only when `import torch` fails).
"""

import argparse
import json
import math
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import torch
    import torch.nn as nn
    from torch.nn import functional as F
except ImportError as e:
    print("SKIP: cannot import torch (%s); install python3-torch" % e)
    sys.exit(77)

TOL = 1e-4


# ---------------------------------------------------------------------------------------
# nanoGPT's model.py (karpathy/nanoGPT), same module names, parameters and buffers. Without
# F.scaled_dot_product_attention (PyTorch < 2.0) it registers the attn.bias mask buffer, as
# nanoGPT does.
# ---------------------------------------------------------------------------------------
class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config["n_embd"] % config["n_head"] == 0
        self.c_attn = nn.Linear(config["n_embd"], 3 * config["n_embd"], bias=config["bias"])
        self.c_proj = nn.Linear(config["n_embd"], config["n_embd"], bias=config["bias"])
        self.attn_dropout = nn.Dropout(config["dropout"])
        self.resid_dropout = nn.Dropout(config["dropout"])
        self.n_head = config["n_head"]
        self.n_embd = config["n_embd"]
        self.flash = hasattr(torch.nn.functional, "scaled_dot_product_attention")
        if not self.flash:
            bs = config["block_size"]
            self.register_buffer("bias", torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = att.masked_fill(~mask, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config["n_embd"], 4 * config["n_embd"], bias=config["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config["n_embd"], config["n_embd"], bias=config["bias"])
        self.dropout = nn.Dropout(config["dropout"])

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config["n_embd"], bias=config["bias"])
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config["n_embd"], bias=config["bias"])
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config["vocab_size"], config["n_embd"]),
            wpe=nn.Embedding(config["block_size"], config["n_embd"]),
            drop=nn.Dropout(config["dropout"]),
            h=nn.ModuleList([Block(config) for _ in range(config["n_layer"])]),
            ln_f=LayerNorm(config["n_embd"], bias=config["bias"]),
        ))
        self.lm_head = nn.Linear(config["n_embd"], config["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


# ---------------------------------------------------------------------------------------
CHAR_TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, "
             "speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n")


def train_a_little(model, vocab, steps, seed, gen_ids=None):
    """A few AdamW steps on random (or given) sequences, so every parameter moves."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2, weight_decay=0.1)
    T = model.config["block_size"]
    model.train()
    for _ in range(steps):
        if gen_ids is not None:
            starts = torch.randint(len(gen_ids) - T - 1, (4,), generator=g)
            x = torch.stack([gen_ids[s:s + T] for s in starts.tolist()])
            y = torch.stack([gen_ids[s + 1:s + T + 1] for s in starts.tolist()])
        else:
            x = torch.randint(vocab, (4, T), generator=g)
            y = torch.randint(vocab, (4, T), generator=g)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return opt, float(loss)


def save_nanogpt(model, opt, out_dir, model_args, compiled, dataset, loss):
    """train.py's checkpoint dict; `compiled` mimics torch.compile's `_orig_mod.` prefix."""
    sd = model.state_dict()
    flash = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    assert flash or "transformer.h.0.attn.bias" in sd  # the mask buffer the converter drops
    if compiled:
        sd = {"_orig_mod." + k: v for k, v in sd.items()}
    checkpoint = {
        "model": sd,
        "optimizer": opt.state_dict(),
        "model_args": model_args,
        "iter_num": 5,
        "best_val_loss": torch.tensor(loss),
        "config": {"out_dir": out_dir, "dataset": dataset, "batch_size": 4, "compile": compiled,
                   "learning_rate": 3e-2, "dtype": "float32", "device": "cpu"},
    }
    os.makedirs(out_dir, exist_ok=True)
    torch.save(checkpoint, os.path.join(out_dir, "ckpt.pt"))


def read_safetensors_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def round_weights(model, dtype):
    """A float64 copy of `model` whose weights were rounded as the converter stores them."""
    st = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    m = GPT(model.config)
    m.load_state_dict({k: v.to(st).to(torch.float32) for k, v in model.state_dict().items()})
    return m.double().eval()


class Runner:
    def __init__(self, ns, tmp):
        self.converter = ns.converter
        self.exe = ns.exe
        self.tmp = tmp
        self.failures = 0

    def check(self, cond, msg):
        print(("ok   " if cond else "FAIL ") + msg, flush=True)
        if not cond:
            self.failures += 1
        return cond

    def convert(self, *args, expect_ok=True):
        cmd = [sys.executable, self.converter] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if expect_ok and r.returncode != 0:
            raise RuntimeError("converter failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        if expect_ok:
            print("     " + r.stdout.strip(), flush=True)
        return r

    def tool(self, *args):
        r = subprocess.run([self.exe] + [str(a) for a in args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nanogpt_logits %s failed: %s" % (args[1], r.stderr.strip()))
        return r.stdout

    def compare_logits(self, name, folder, model, dtype, ids):
        ref = round_weights(model, dtype)
        with torch.no_grad():
            want = ref(torch.tensor([ids]))[0].to(torch.float32)
        out = os.path.join(self.tmp, name + ".logits.bin")
        T, V = map(int, self.tool(folder, "logits", ",".join(map(str, ids)), out).split())
        got = torch.frombuffer(bytearray(open(out, "rb").read()), dtype=torch.float32)
        got = got.view(T, V)
        self.check((T, V) == tuple(want.shape), "%s: logits shape %s" % (name, (T, V)))
        if (T, V) != tuple(want.shape):
            return
        diff = float((got.double() - want.double()).abs().max())
        self.check(diff <= TOL, "%s: max |logit diff| %.2e over %dx%d (tolerance %g; logits "
                   "span %.2f)" % (name, diff, T, V, TOL, float(want.abs().max())))


def header_checks(r, name, folder, bias, padded_vocab=None, st_dtype="F32"):
    hdr = read_safetensors_header(os.path.join(folder, "model.safetensors"))
    names = set(hdr) - {"__metadata__"}
    cfg = json.load(open(os.path.join(folder, "config.json")))
    r.check(cfg["activation_function"] == "gelu", "%s: exact GELU in config.json" % name)
    r.check(not any(re.match(r"h\.\d+\.attn\.(bias|masked_bias)$", n) for n in names),
            "%s: no attn.bias buffers" % name)
    r.check("lm_head.weight" not in names, "%s: tied lm_head not written" % name)
    r.check(not any(n.startswith("_orig_mod.") or n.startswith("transformer.") for n in names),
            "%s: HF names without prefixes" % name)
    has_bias = any(n.endswith(".bias") for n in names)
    r.check(has_bias == bias, "%s: bias tensors %s" % (name, "present" if bias else "absent"))
    r.check(all(hdr[n]["dtype"] == st_dtype for n in names), "%s: stored as %s" % (name, st_dtype))
    C = cfg["n_embd"]
    r.check(hdr["h.0.attn.c_attn.weight"]["shape"] == [C, 3 * C]
            and hdr["h.0.mlp.c_proj.weight"]["shape"] == [4 * C, C],
            "%s: Conv1D [in, out] layout" % name)
    if padded_vocab:
        r.check(cfg["vocab_size"] == padded_vocab and hdr["wte.weight"]["shape"][0] == padded_vocab,
                "%s: padded vocab_size %d kept" % (name, padded_vocab))


def variant_char(r, name, bias, compiled, dtype, meta_mode, seed):
    chars = sorted(set(CHAR_TEXT))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = {i: c for i, c in enumerate(chars)}
    model_args = dict(n_layer=2, n_head=4, n_embd=32, block_size=48, bias=bias,
                      vocab_size=len(chars), dropout=0.0)
    torch.manual_seed(seed)
    model = GPT(model_args)
    data = torch.tensor([stoi[c] for c in CHAR_TEXT * 4], dtype=torch.long)
    opt, loss = train_a_little(model, len(chars), 6, seed, data)
    base = os.path.join(r.tmp, name)
    out_dir = os.path.join(base, "out-shakespeare-char")
    save_nanogpt(model, opt, out_dir, model_args, compiled, "shakespeare_char", loss)
    meta = {"vocab_size": len(chars), "itos": itos, "stoi": stoi}
    folder = os.path.join(base, "model")
    if meta_mode == "dataset":  # where sample.py looks: data/<dataset>/meta.pkl
        os.makedirs(os.path.join(base, "data", "shakespeare_char"))
        with open(os.path.join(base, "data", "shakespeare_char", "meta.pkl"), "wb") as f:
            pickle.dump(meta, f)
        r.convert(out_dir, folder, "--dtype", dtype)
    else:
        mp = os.path.join(base, "meta.pkl")
        with open(mp, "wb") as f:
            pickle.dump(meta, f)
        r.convert(os.path.join(out_dir, "ckpt.pt"), folder, "--meta", mp, "--dtype", dtype)
    header_checks(r, name, folder, bias, st_dtype={"f32": "F32", "f16": "F16",
                                                   "bf16": "BF16"}[dtype])
    text = "Speak, speak."
    got = r.tool(folder, "encode", text).strip()
    want = ",".join(str(stoi[c]) for c in text)
    r.check(got == want, "%s: char tokenizer ids match meta.pkl's stoi (%s)" % (name, got))
    ids = [stoi[c] for c in CHAR_TEXT[: model_args["block_size"]]]
    r.check(r.tool(folder, "decode", ",".join(map(str, ids))) ==
            CHAR_TEXT[: model_args["block_size"]], "%s: decode gives the text back" % name)
    r.compare_logits(name, folder, model, dtype, ids)


def variant_gpt2_padded(r, name, seed, gpt2_tok_dir):
    model_args = dict(n_layer=2, n_head=2, n_embd=32, block_size=24, bias=True,
                      vocab_size=50304, dropout=0.0)
    torch.manual_seed(seed)
    model = GPT(model_args)
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(50257, (400,), generator=g)  # real ids only, as after tiktoken
    opt, loss = train_a_little(model, 50257, 4, seed, data)
    base = os.path.join(r.tmp, name)
    out_dir = os.path.join(base, "out")
    save_nanogpt(model, opt, out_dir, model_args, True, "openwebtext", loss)
    folder = os.path.join(base, "model")
    r.convert(out_dir, folder, "--gpt2-tokenizer", gpt2_tok_dir)
    header_checks(r, name, folder, True, padded_vocab=50304)
    cfg = json.load(open(os.path.join(folder, "config.json")))
    r.check(cfg["eos_token_id"] == 50256, "%s: eos is <|endoftext|> (50256)" % name)
    got = r.tool(folder, "encode", "Hello world").strip()
    r.check(got == "15496,995", "%s: GPT-2 tokenizer encodes 'Hello world' as %s" % (name, got))
    ids = data[:24].tolist()
    ids[5] = 50300  # a padded row: libtextgen must compute it like PyTorch does
    r.compare_logits(name, folder, model, "f32", ids)


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (shutil.copyfile, (__file__, self.path))


def error_cases(r):
    base = os.path.join(r.tmp, "errors")
    os.makedirs(base)
    res = r.convert(os.path.join(base, "nope.pt"), os.path.join(base, "m1"), expect_ok=False)
    r.check(res.returncode != 0 and "no such checkpoint" in res.stderr,
            "missing checkpoint: %s" % res.stderr.strip())
    junk = os.path.join(base, "junk.pt")
    with open(junk, "w") as f:
        f.write("this is not a checkpoint\n")
    res = r.convert(junk, os.path.join(base, "m2"), expect_ok=False)
    r.check(res.returncode != 0 and "cannot read the checkpoint" in res.stderr,
            "unreadable checkpoint: %s" % res.stderr.strip())
    # A pickle that would run code when loaded: refused, and the code does not run.
    marker = os.path.join(base, "pwned")
    evil = os.path.join(base, "evil.pt")
    torch.save({"model": {}, "x": _Evil(marker)}, evil)
    res = r.convert(evil, os.path.join(base, "m6"), expect_ok=False)
    r.check(res.returncode != 0 and "refusing to load the global" in res.stderr
            and not os.path.exists(marker),
            "checkpoint that would run code: %s" % res.stderr.strip())
    odd = os.path.join(base, "odd.pt")
    torch.save({"weights": {"x": torch.zeros(2)}}, odd)
    res = r.convert(odd, os.path.join(base, "m3"), expect_ok=False)
    r.check(res.returncode != 0 and "not a nanoGPT checkpoint" in res.stderr,
            "checkpoint without 'model': %s" % res.stderr.strip())
    torch.manual_seed(0)
    args = dict(n_layer=1, n_head=2, n_embd=16, block_size=8, bias=True, vocab_size=11,
                dropout=0.0)
    sd = GPT(args).state_dict()
    del sd["transformer.h.0.mlp.c_fc.weight"]
    torch.save({"model": sd, "model_args": args}, os.path.join(base, "missing.pt"))
    res = r.convert(os.path.join(base, "missing.pt"), os.path.join(base, "m4"), "--gpt2",
                    expect_ok=False)
    r.check(res.returncode != 0 and "missing tensor transformer.h.0.mlp.c_fc.weight" in res.stderr,
            "missing tensor: %s" % res.stderr.strip())
    sd = GPT(args).state_dict()
    torch.save({"model": sd, "model_args": dict(args, n_embd=24)}, os.path.join(base, "bad.pt"))
    res = r.convert(os.path.join(base, "bad.pt"), os.path.join(base, "m5"), expect_ok=False)
    r.check(res.returncode != 0 and "model_args['n_embd'] = 24" in res.stderr,
            "model_args contradicting the tensors: %s" % res.stderr.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--converter", required=True)
    ap.add_argument("--exe", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ns = ap.parse_args()
    torch.set_num_threads(1)
    src_root = os.environ.get("TG_SOURCE_ROOT") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    gpt2_tok = os.path.join(src_root, "tests", "data", "tokenizer", "gpt2")
    tmp = tempfile.mkdtemp(prefix="tgconvert-")
    r = Runner(ns, tmp)
    try:
        variant_char(r, "char_bias_compiled", bias=True, compiled=True, dtype="f32",
                     meta_mode="dataset", seed=1)
        variant_char(r, "char_nobias_f16", bias=False, compiled=False, dtype="f16",
                     meta_mode="explicit", seed=2)
        variant_char(r, "char_nobias_bf16_compiled", bias=False, compiled=True, dtype="bf16",
                     meta_mode="explicit", seed=3)
        variant_gpt2_padded(r, "gpt2_padded", seed=4, gpt2_tok_dir=gpt2_tok)
        error_cases(r)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        r.check(False, "unexpected error: %s" % e)
    finally:
        if ns.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d failure(s)" % ("FAILED" if r.failures else "passed", r.failures))
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
