#!/usr/bin/python3
"""Beam search reference: golden sequences and scores for libtextgen's beam search.

Written from the semantics of issue 9 as docs/design.md ("Beam search") states them, not from
transformers' code (which is not installed). Plain PyTorch on the tiny character models of
tests/data/models, in float64. Run with Debian's interpreter (torch 1.13):

    /usr/bin/python3 tests/reference/beam/gen_beam_reference.py           # write goldens.json
    /usr/bin/python3 tests/reference/beam/gen_beam_reference.py --check   # compare with it

Also writes tests/data/models/char_eos/ (char_tiny's weights and tokenizer, with an extra end id
that the beams reach). Output is byte-identical from run to run. See README.md here.
"""

import argparse
import json
import os
import shutil
import sys

try:
    import torch
except ImportError as e:  # the meson test (--check) skips without Debian's python3-torch
    print("SKIP: cannot import torch (%s); install python3-torch" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.dont_write_bytecode = True
from gen_reference import gpt2_forward, read_safetensors_checked  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "data", "models")
GOLDENS = os.path.join(HERE, "goldens.json")

# char_tiny's character vocabulary: ids 0..95 are "\n" and ASCII 32..126, 96 is <|endoftext|>.
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
EOS_EXTRA = CHARS.index("$")  # the end id char_eos adds: the beams of char_tiny meet it often
MIN_GAP = 2e-4  # ranking gaps the float32 C side must not flip (checked on every golden)


class Model:
    def __init__(self, folder):
        cfg = json.load(open(os.path.join(folder, "config.json")))
        self.c = {"C": cfg["n_embd"], "H": cfg["n_head"], "L": cfg["n_layer"],
                  "eps": cfg["layer_norm_epsilon"], "act": cfg["activation_function"]}
        self.V = cfg["vocab_size"]
        self.n_ctx = cfg["n_positions"]
        self.w = {k: torch.from_numpy(a.copy())
                  for k, (_, a) in read_safetensors_checked(os.path.join(folder, "model.safetensors")).items()
                  if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias")}
        ends = [cfg["eos_token_id"]]
        gen = os.path.join(folder, "generation_config.json")
        if os.path.exists(gen):
            e = json.load(open(gen)).get("eos_token_id", [])
            ends += e if isinstance(e, list) else [e]
        self.end_ids = list(dict.fromkeys(ends))  # tg_model_end_ids(): each id once, in order
        self.cache = {}

    def log_probs(self, ids):
        key = tuple(ids)
        if key not in self.cache:
            with torch.no_grad():
                logits = gpt2_forward(self.w, self.c, list(ids))[-1]
            self.cache[key] = torch.log_softmax(logits, dim=-1)
        return self.cache[key].clone()


def encode(text):
    return [CHARS.index(ch) for ch in text]


def decode(ids):
    return "".join(CHARS[i] if i < len(CHARS) else "<|endoftext|>" for i in ids)


class Hyp:
    def __init__(self, tokens, total, steps):
        self.tokens, self.sum, self.steps = tokens, total, steps  # steps: per-token scores
        self.stop, self.text, self.score = None, None, None


def ends(h, case, model, room):
    """The rules of tg__hyp_push(): end id, stop string, max_new_tokens, the context."""
    t = h.tokens[-1]
    if t in model.end_ids:
        return "eos", decode(h.tokens[:-1])
    text = decode(h.tokens)
    cut = [text.find(s) for s in case.get("stop_strings", []) if s in text]
    if cut:
        return "stop_string", text[:min(cut)]
    if len(h.tokens) >= case["max_new"]:
        return "max_tokens", text
    if len(h.tokens) >= room:
        return "context_full", text
    return None, None


def step_scores(model, prompt, h, case):
    """log_softmax of the beam's logits, then the chain's non-selecting processors on it."""
    lp = model.log_probs(prompt + h.tokens)
    for t, bias in case.get("logit_bias", {}).items():  # logit_bias: added to the score
        lp[int(t)] += bias
    pen = case.get("repetition_penalty")
    if pen:  # CTRL / HF on log-probabilities: each distinct token of the history, once
        for t in set(prompt + h.tokens):
            lp[t] = lp[t] * pen if lp[t] < 0 else lp[t] / pen
    return lp


def final_score(h, lp, length, max_length):
    """length_penalty(alpha): sum / length^alpha; a live beam's best with alpha > 0 is at
    max_length."""
    n = max_length if lp > 0 and max_length > length else length
    return h.sum / (n ** lp) if n >= 1 else h.sum


def beam_search(model, case):
    prompt = encode(case["prompt"])
    B, G = case["num_beams"], case.get("groups", 1)
    gs = B // G
    lp, es = case["length_penalty"], case["early_stopping"]
    room = model.n_ctx - len(prompt)
    n_keep = max(2, 1 + len(model.end_ids)) * gs
    live = [[Hyp([], 0.0, [])] for _ in range(G)]
    finished = [[] for _ in range(G)]
    done = [False] * G
    gaps = []
    step = 0
    while not all(done):
        chosen = []
        for g in range(G):
            if done[g]:
                continue
            rows = torch.stack([step_scores(model, prompt, h, case) + h.sum for h in live[g]])
            for t in chosen:  # diverse_groups: tokens earlier groups chose cost `penalty` each
                rows[:, t] -= case["diversity_penalty"]
            flat = rows.reshape(-1)
            order = sorted(range(flat.numel()), key=lambda i: (-float(flat[i]), i))
            k = min(n_keep, sum(1 for v in flat.tolist() if v != float("-inf")))
            vals = [float(flat[i]) for i in order[:k + 1]]
            gaps += [vals[i] - vals[i + 1] for i in range(len(vals) - 1)]
            new_live = []
            for r, idx in enumerate(order[:k]):
                if r >= gs and len(new_live) == gs:
                    break
                b, t = divmod(idx, model.V)
                parent = live[g][b]
                v = float(flat[idx])
                child = Hyp(parent.tokens + [t], v, parent.steps + [v - parent.sum])
                child.stop, child.text = ends(child, case, model, room)
                if child.stop:
                    if r < gs:  # an end counts only among the first group_size candidates
                        child.score = final_score(child, lp, len(child.tokens), len(child.tokens))
                        f = finished[g]
                        if len(f) < gs or child.score > f[-1].score:
                            at = len(f)
                            while at > 0 and f[at - 1].score < child.score:
                                at -= 1
                            f.insert(at, child)
                            del f[gs:]
                elif len(new_live) < gs:
                    new_live.append(child)
            live[g] = new_live
            chosen += [h.tokens[-1] for h in new_live]
            if not new_live:
                done[g] = True
            elif len(finished[g]) == gs:
                if es == "true":
                    done[g] = True
                else:
                    n = step + 1
                    top = min(case["max_new"], room) if es == "never" else n
                    best = final_score(new_live[0], lp, n, top)
                    done[g] = not best > finished[g][-1].score
            if done[g]:
                live[g] = []
        step += 1
    ranked = sorted((h for f in finished for h in f), key=lambda h: -h.score)
    return ranked[:case.get("num_return", 1)], step, min(gaps) if gaps else None


# ---- the cases ----

def cases():
    out = []
    prompt_eos = "Second Servant:"
    for B in (2, 3, 4):
        for lp in (0.0, 1.0, 2.0):
            for es in ("false", "true", "never"):
                out.append(dict(name="eos_b%d_lp%g_%s" % (B, lp, es), model="char_eos",
                                prompt=prompt_eos, num_beams=B, num_return=B, length_penalty=lp,
                                early_stopping=es, max_new=16))
    # an end among candidates ranked past the first num_beams must not finish (it would win here)
    out.append(dict(name="eos_rank_b4_lp0", model="char_eos", prompt="First Citizen:", num_beams=4,
                    num_return=4, length_penalty=0.0, early_stopping="false", max_new=16))
    out.append(dict(name="eos_rank_b3_lp1_true", model="char_eos", prompt="First Citizen:",
                    num_beams=3, num_return=3, length_penalty=1.0, early_stopping="true",
                    max_new=16))
    # both end ids among the candidates: 3 x num_beams candidates are needed (with 2 x, fewer
    # than num_beams would go on at the step where six of them end)
    out.append(dict(name="two_end_ids", model="char_eos", prompt="ROMEO:", num_beams=3,
                    num_return=3, length_penalty=2.0, early_stopping="false", max_new=16,
                    logit_bias={"96": 4.0}))
    for B in (2, 3, 4):  # no end id reached: every hypothesis runs to max_new_tokens
        out.append(dict(name="tiny_b%d" % B, model="char_tiny", prompt="ROMEO:", num_beams=B,
                        num_return=B, length_penalty=1.0, early_stopping="false", max_new=16))
    out.append(dict(name="repetition_penalty", model="char_eos", prompt=prompt_eos, num_beams=3,
                    num_return=3, length_penalty=1.0, early_stopping="false", max_new=16,
                    repetition_penalty=1.3))
    out.append(dict(name="stop_string", model="char_tiny", prompt="ROMEO:", num_beams=3,
                    num_return=3, length_penalty=0.0, early_stopping="false", max_new=16,
                    stop_strings=["))"]))
    out.append(dict(name="diverse_groups", model="char_tiny", prompt="ROMEO:", num_beams=4,
                    num_return=4, length_penalty=1.0, early_stopping="false", max_new=12,
                    groups=2, diversity_penalty=1.5))
    out.append(dict(name="diverse_groups_eos", model="char_eos", prompt=prompt_eos, num_beams=6,
                    num_return=4, length_penalty=1.0, early_stopping="false", max_new=12,
                    groups=3, diversity_penalty=0.7))
    return out


def c_options(case):
    """How the C side asks for the same search (tg_generate_options)."""
    samplers = "greedy"
    if case.get("logit_bias"):
        samplers = "logit_bias(bias=\"%s\") greedy" % " ".join(
            "%s:%g" % kv for kv in sorted(case["logit_bias"].items()))
    if case.get("repetition_penalty"):
        samplers = "repetition_penalty(penalty=%g, last_n=-1) greedy" % case["repetition_penalty"]
    scorers = "length_penalty(alpha=%g)" % case["length_penalty"]
    if case.get("groups"):
        scorers = "diverse_groups(groups=%d, penalty=%g) %s" % (
            case["groups"], case["diversity_penalty"], scorers)
    return samplers, scorers


def golden(models, case):
    seqs, steps, gap = beam_search(models[case["model"]], case)
    assert gap is None or gap >= MIN_GAP, "%s: ranking gap %g < %g" % (case["name"], gap, MIN_GAP)
    samplers, scorers = c_options(case)
    return {
        "name": case["name"], "model": case["model"], "prompt": case["prompt"],
        "num_beams": case["num_beams"], "num_return_sequences": case["num_return"],
        "early_stopping": case["early_stopping"], "max_new_tokens": case["max_new"],
        "stop_strings": case.get("stop_strings", []), "samplers": samplers,
        "beam_scorers": scorers, "steps": steps, "min_gap": round(gap, 6),
        "sequences": [{"tokens": h.tokens, "text": h.text, "score": round(h.score, 7),
                       "stop_reason": h.stop, "logprobs": [round(x, 7) for x in h.steps]}
                      for h in seqs],
    }


CHAR_EOS_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def char_eos_generation_config():
    return json.dumps({"do_sample": False, "eos_token_id": [96, EOS_EXTRA]}, indent=1,
                      sort_keys=True) + "\n"


def write_char_eos():
    """char_tiny with generation_config.json adding an end id the beams reach."""
    src, dst = os.path.join(MODELS, "char_tiny"), os.path.join(MODELS, "char_eos")
    os.makedirs(dst, exist_ok=True)
    for f in CHAR_EOS_FILES:
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    with open(os.path.join(dst, "generation_config.json"), "w") as f:
        f.write(char_eos_generation_config())


def check_char_eos():
    src, dst = os.path.join(MODELS, "char_tiny"), os.path.join(MODELS, "char_eos")
    for f in CHAR_EOS_FILES:
        assert open(os.path.join(src, f), "rb").read() == open(os.path.join(dst, f), "rb").read(), \
            "char_eos/%s differs from char_tiny's" % f
    assert open(os.path.join(dst, "generation_config.json")).read() == char_eos_generation_config()
    assert sorted(os.listdir(dst)) == sorted(CHAR_EOS_FILES + ("generation_config.json",))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed goldens")
    args = ap.parse_args()
    if not args.check:
        write_char_eos()
    models = {m: Model(os.path.join(MODELS, m)) for m in ("char_tiny", "char_eos")}
    data = {"about": "tests/reference/beam/README.md", "cases": [golden(models, c) for c in cases()]}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if args.check:
        check_char_eos()
        assert open(GOLDENS).read() == text, "goldens.json differs from a fresh computation"
        print("goldens.json matches (%d cases)" % len(data["cases"]))
        return
    with open(GOLDENS, "w") as f:
        f.write(text)
    for c in data["cases"]:
        s = c["sequences"][0]
        print("%-26s steps %2d  gap %.4f  best %-12s %r" % (c["name"], c["steps"], c["min_gap"],
                                                           s["stop_reason"], s["text"]))


if __name__ == "__main__":
    main()
