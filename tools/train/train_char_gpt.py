#!/usr/bin/python3
"""Train the bundled character-level GPT (models/shakespeare-char) on tiny Shakespeare.

Plain PyTorch (Debian's python3-torch), CPU only, deterministic for a given seed and thread
count. The model is GPT-2's architecture (pre-LN blocks, learned positions, tied embeddings,
biases, tanh GELU) so that the exported folder is an ordinary Hugging Face `gpt2` folder.

    /usr/bin/python3 tools/train/train_char_gpt.py                  # full run (~30-40 min)
    /usr/bin/python3 tools/train/train_char_gpt.py --bench 20       # measure iterations/s
    /usr/bin/python3 tools/train/train_char_gpt.py --iters 300 --n-layer 2 --n-embd 64 \\
        --out /tmp/smoke                                           # quick end-to-end check
    /usr/bin/python3 tools/train/train_char_gpt.py --export-from /tmp/ckpt.pt   # re-export

The output folder gets config.json, model.safetensors (F16 by default), tokenizer.json,
generation_config.json, validation.txt and training.json. Every loss written to training.json
is computed from the weights exactly as stored (rounded to F16), in float64. The loss
definition is in docs/models.md ("Evaluation"): consecutive non-overlapping windows of
block_size tokens, each run from position 0, every position but the last predicting the next
token of its window, the last partial window dropped; the mean negative log-likelihood in nats.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads
# made training steps up to 3x slower. Must be set before libgomp is loaded (import torch).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_PATH = os.path.join(REPO_ROOT, "tests", "data", "tokenizer", "shakespeare.txt")
DATA_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
DEFAULT_OUT = os.path.join(REPO_ROOT, "models", "shakespeare-char")
VALIDATION_CHARS = 20000

GENERATION_CONFIG = {
    "do_sample": True,
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.95,
    "repetition_penalty": 1.1,
    "max_new_tokens": 200,
}


# ---------------------------------------------------------------------------------------
# Model: GPT-2 with HF module names (wte, wpe, h.N.ln_1, attn.c_attn, ...). Linear layers are
# nn.Linear ([out, in]); the export transposes them to HF's Conv1D [in, out].
# ---------------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, bias = cfg["n_embd"], cfg["bias"]
        self.n_head = cfg["n_head"]
        self.act = "tanh" if cfg["activation_function"] == "gelu_new" else "none"
        self.ln_1 = nn.LayerNorm(C, eps=cfg["layer_norm_epsilon"])
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.attn.c_proj = nn.Linear(C, C, bias=bias)
        self.ln_2 = nn.LayerNorm(C, eps=cfg["layer_norm_epsilon"])
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(C, cfg["n_inner"], bias=bias)
        self.mlp.c_proj = nn.Linear(cfg["n_inner"], C, bias=bias)
        self.drop = nn.Dropout(cfg["dropout"])

    def forward(self, x, mask):
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.drop(self.attn.c_proj(y))
        h = F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate=self.act)
        return x + self.drop(self.mlp.c_proj(h))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C, P = cfg["n_embd"], cfg["n_positions"]
        self.wte = nn.Embedding(cfg["vocab_size"], C)
        self.wpe = nn.Embedding(P, C)
        self.drop = nn.Dropout(cfg["dropout"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(C, eps=cfg["layer_norm_epsilon"])
        self.register_buffer("mask", torch.ones(P, P, dtype=torch.bool).triu(1), persistent=False)
        # GPT-2 initialisation; residual projections scaled by 1/sqrt(2 n_layer).
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):
                nn.init.ones_(p)
            elif name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg["n_layer"]))
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x, self.mask)
        return self.ln_f(x) @ self.wte.weight.t()  # tied output layer


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def load_data():
    raw = open(DATA_PATH, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DATA_SHA256:
        sys.exit("%s: sha256 %s, expected %s" % (DATA_PATH, digest, DATA_SHA256))
    text = raw.decode("utf-8")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    n = int(0.9 * len(text))  # last 10 % held out (nanoGPT's shakespeare_char split)
    return text, chars, stoi, n


def encode(s, stoi):
    return torch.tensor([stoi[c] for c in s], dtype=torch.long)


def validation_excerpt(val_text):
    """About VALIDATION_CHARS characters of the held-out split, from its first line start to a
    line end."""
    start = val_text.index("\n") + 1
    end = val_text.rindex("\n", start, start + VALIDATION_CHARS) + 1
    return val_text[start:end]


# ---------------------------------------------------------------------------------------
# Loss exactly as docs/models.md defines it (float64 on the stored weights)
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def window_loss(model, ids, block_size, batch=16):
    """Mean NLL (nats/token) over floor(N/B) windows of B tokens; positions 0..B-2 of each
    window predict positions 1..B-1. Returns (loss, number of predictions)."""
    B = block_size
    nw = len(ids) // B
    windows = ids[: nw * B].view(nw, B)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(0, nw, batch):
        w = windows[i : i + batch]
        logits = model(w[:, :-1]).to(torch.float64)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                              reduction="sum")
        total += nll
    n = nw * (B - 1)
    return float(total) / n, n


def rounded_model(model, dtype_name, compute=torch.float64):
    """A copy of `model` whose weights were rounded to the storage dtype, computing in
    `compute` (float64 by default)."""
    st = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype_name]
    m = GPT(model.cfg)
    m.load_state_dict({k: v.to(st).to(torch.float32) for k, v in model.state_dict().items()})
    return m.to(compute).eval()


# ---------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------
ST_DTYPE = {"f32": ("F32", torch.float32, 4), "f16": ("F16", torch.float16, 2),
            "bf16": ("BF16", torch.bfloat16, 2)}


def tensor_bytes(t, dtype_name):
    _, tdt, _ = ST_DTYPE[dtype_name]
    t = t.detach().to(tdt).contiguous()
    if tdt == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype_name):
    """tensors: {name: tensor}. All stored in one dtype; sorted by name (all the same size)."""
    st_name, _, size = ST_DTYPE[dtype_name]
    header, blobs, off = {}, [], 0
    for name in sorted(tensors, key=lambda n: (-size, n)):
        raw = tensor_bytes(tensors[name], dtype_name)
        header[name] = {"dtype": st_name, "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def hf_tensors(model):
    """HF GPT-2 names; nn.Linear [out, in] -> Conv1D [in, out]; the tied head is not written."""
    out = {}
    for name, p in model.state_dict().items():
        if name == "mask":
            continue
        if name.endswith(".weight") and (".attn.c_" in name or ".mlp.c_" in name):
            p = p.t()
        out[name] = p.contiguous()
    return out


def char_tokenizer_json(chars):
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": {c: i for i, c in enumerate(chars)}, "merges": []},
    }


def config_json(cfg, dtype_name):
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": cfg["vocab_size"],
        "n_positions": cfg["n_positions"],
        "n_ctx": cfg["n_positions"],
        "n_embd": cfg["n_embd"],
        "n_layer": cfg["n_layer"],
        "n_head": cfg["n_head"],
        "n_inner": cfg["n_inner"],
        "activation_function": cfg["activation_function"],
        "layer_norm_epsilon": cfg["layer_norm_epsilon"],
        "bos_token_id": None,
        "eos_token_id": None,
        "tie_word_embeddings": True,
        "attn_pdrop": cfg["dropout"],
        "embd_pdrop": cfg["dropout"],
        "resid_pdrop": cfg["dropout"],
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype_name],
    }


def dump_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, sort_keys=True)
        f.write("\n")


def export(model, info, args, text, chars, stoi, n_train):
    out = args.out
    os.makedirs(out, exist_ok=True)
    cfg = model.cfg
    B = cfg["n_positions"]
    t0 = time.time()
    m64 = rounded_model(model, args.dtype)
    train_ids = encode(text[:n_train], stoi)
    val_text = text[n_train:]
    val_ids = encode(val_text, stoi)
    excerpt = validation_excerpt(val_text)
    print("export: scoring the validation split (%d chars) in float64 ..." % len(val_ids),
          flush=True)
    val_loss, val_n = window_loss(m64, val_ids, B)
    print("export: val loss %.6f over %d predictions" % (val_loss, val_n), flush=True)
    eval_loss, eval_n = window_loss(m64, encode(excerpt, stoi), B)
    print("export: validation.txt loss %.6f over %d predictions" % (eval_loss, eval_n), flush=True)
    if args.skip_train_loss:
        train_loss, train_n = None, 0
    else:
        # float32 (of the same rounded weights): 9x more text than the validation split.
        print("export: scoring the training split (%d chars, float32) ..." % len(train_ids),
              flush=True)
        train_loss, train_n = window_loss(rounded_model(model, args.dtype, torch.float32),
                                          train_ids, B, batch=32)
        print("export: train loss %.6f over %d predictions" % (train_loss, train_n), flush=True)

    write_safetensors(os.path.join(out, "model.safetensors"), hf_tensors(model), args.dtype)
    dump_json(os.path.join(out, "config.json"), config_json(cfg, args.dtype))
    dump_json(os.path.join(out, "tokenizer.json"), char_tokenizer_json(chars), indent=None)
    dump_json(os.path.join(out, "generation_config.json"), GENERATION_CONFIG)
    with open(os.path.join(out, "validation.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write(excerpt)
    n_params = sum(p.numel() for p in model.parameters())
    training = dict(info)
    training.update({
        "data": {"file": "tests/data/tokenizer/shakespeare.txt (tiny Shakespeare, karpathy/char-rnn)",
                 "sha256": DATA_SHA256, "chars": len(text), "vocab_size": len(chars),
                 "train_chars": n_train, "val_chars": len(text) - n_train,
                 "split": "first 90 % train, last 10 % validation"},
        "parameters": n_params,
        "storage_dtype": ST_DTYPE[args.dtype][0],
        "loss_definition": "docs/models.md#evaluation: mean NLL in nats/char over non-overlapping "
                           "windows of block_size chars, each from position 0, positions "
                           "0..B-2 predicting 1..B-1, last partial window dropped; forward "
                           "pass of the stored (rounded) weights in float64 (train_loss: "
                           "float32)",
        "train_loss": train_loss,
        "train_predictions": train_n,
        "val_loss": val_loss,
        "val_predictions": val_n,
        "eval": {"text_file": "validation.txt", "block_size": B, "loss": eval_loss,
                 "predictions": eval_n, "chars": len(excerpt)},
        "torch_version": torch.__version__,
    })
    dump_json(os.path.join(out, "training.json"), training)
    print("export: wrote %s in %.1f s" % (out, time.time() - t0), flush=True)


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------
def lr_at(it, args):
    if it < args.warmup:
        return args.lr * (it + 1) / args.warmup
    frac = min(1.0, (it - args.warmup) / max(1, args.iters - args.warmup))
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * frac)) * (args.lr - args.min_lr)


def get_batch(data, gen, batch_size, block_size):
    ix = torch.randint(len(data) - block_size - 1, (batch_size,), generator=gen)
    x = torch.stack([data[i : i + block_size] for i in ix.tolist()])
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in ix.tolist()])
    return x, y


@torch.no_grad()
def estimate(model, data, gen, args):
    model.eval()
    losses = []
    for _ in range(args.eval_iters):
        x, y = get_batch(data, gen, args.batch_size, args.block_size)
        logits = model(x)
        losses.append(float(F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))))
    model.train()
    return sum(losses) / len(losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=192)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--iters", type=int, default=2400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta2", type=float, default=0.99)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--no-bias", action="store_true", help="no Linear/LayerNorm-free biases")
    ap.add_argument("--gelu", choices=["gelu_new", "gelu"], default="gelu_new")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f16")
    ap.add_argument("--eval-interval", type=int, default=250)
    ap.add_argument("--eval-iters", type=int, default=10)
    ap.add_argument("--log-interval", type=int, default=10)
    ap.add_argument("--ckpt", default="/tmp/train_char_gpt_ckpt.pt",
                    help="float32 checkpoint written at the end (for --export-from)")
    ap.add_argument("--export-from", help="skip training: export this --ckpt file")
    ap.add_argument("--skip-train-loss", action="store_true",
                    help="do not score the whole training split at export")
    ap.add_argument("--bench", type=int, default=0, help="time this many iterations and exit")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    text, chars, stoi, n_train = load_data()

    if args.export_from:
        ck = torch.load(args.export_from)
        model = GPT(ck["cfg"])
        model.load_state_dict(ck["model"])
        saved = ck["args"]
        for k in ("out", "dtype", "skip_train_loss"):
            saved[k] = getattr(args, k)
        export(model, ck["info"], argparse.Namespace(**saved), text, chars, stoi, n_train)
        return

    cfg = {
        "vocab_size": len(chars), "n_positions": args.block_size, "n_embd": args.n_embd,
        "n_layer": args.n_layer, "n_head": args.n_head, "n_inner": 4 * args.n_embd,
        "activation_function": args.gelu, "layer_norm_epsilon": 1e-5,
        "bias": not args.no_bias, "dropout": args.dropout,
    }
    torch.manual_seed(args.seed)
    model = GPT(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print("model: %d layers, %d heads, width %d, context %d, %.2fM parameters" %
          (cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["n_positions"], n_params / 1e6),
          flush=True)

    train_data = encode(text[:n_train], stoi)
    val_data = encode(text[n_train:], stoi)
    gen = torch.Generator().manual_seed(args.seed)          # training batches
    eval_gen = torch.Generator().manual_seed(args.seed + 1)  # progress estimates

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, args.beta2))

    iters = args.bench if args.bench else args.iters
    model.train()
    t_start = time.time()
    t_log = t_start
    history = []
    for it in range(iters):
        if not args.bench and it > 0 and it % args.eval_interval == 0:
            tl, vl = estimate(model, train_data, eval_gen, args), estimate(model, val_data,
                                                                            eval_gen, args)
            history.append({"iter": it, "train": round(tl, 4), "val": round(vl, 4),
                            "elapsed_s": round(time.time() - t_start, 1)})
            print("iter %5d: estimated train %.4f, val %.4f" % (it, tl, vl), flush=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(it, args)
        x, y = get_batch(train_data, gen, args.batch_size, args.block_size)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        if (it + 1) % args.log_interval == 0 or it + 1 == iters:
            now = time.time()
            rate = args.log_interval / (now - t_log) if (it + 1) % args.log_interval == 0 else 0
            t_log = now
            el = now - t_start
            eta = el / (it + 1) * (iters - it - 1)
            print("iter %5d/%d loss %.4f lr %.2e | %.2f it/s | %.0f s elapsed, ETA %.0f s" %
                  (it + 1, iters, float(loss), lr_at(it, args), rate, el, eta), flush=True)
    wall = time.time() - t_start
    if args.bench:
        print("bench: %d iterations in %.1f s = %.3f it/s (%d tokens/iter); %d iterations "
              "would take %.1f min" % (iters, wall, iters / wall, args.batch_size *
                                       args.block_size, args.iters, args.iters / iters * wall / 60))
        return

    info = {
        "seed": args.seed,
        "iterations": args.iters,
        "wall_time_s": round(wall, 1),
        "threads": args.threads,
        "hyperparameters": {
            "n_layer": args.n_layer, "n_head": args.n_head, "n_embd": args.n_embd,
            "block_size": args.block_size, "batch_size": args.batch_size,
            "tokens_per_iter": args.batch_size * args.block_size,
            "optimizer": "AdamW", "lr": args.lr, "min_lr": args.min_lr,
            "schedule": "linear warmup then cosine decay to min_lr",
            "warmup_iters": args.warmup, "betas": [0.9, args.beta2],
            "weight_decay": args.weight_decay, "weight_decay_on": "matrices only",
            "grad_clip": args.grad_clip, "dropout": args.dropout, "bias": not args.no_bias,
            "activation_function": args.gelu, "layer_norm_epsilon": 1e-5,
            "tied_embeddings": True, "init": "normal(0, 0.02), residual projections "
                                             "0.02/sqrt(2 n_layer)",
        },
        "progress": history,
        "command": " ".join(["tools/train/train_char_gpt.py"] + sys.argv[1:]),
    }
    torch.save({"cfg": cfg, "model": model.state_dict(), "info": info, "args": vars(args)},
               args.ckpt)
    print("training: %d iterations in %.1f s (%.1f min); checkpoint %s" %
          (args.iters, wall, wall / 60, args.ckpt), flush=True)
    export(model, info, args, text, chars, stoi, n_train)


if __name__ == "__main__":
    main()
