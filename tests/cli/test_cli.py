#!/usr/bin/env python3
"""End-to-end tests of the `textgen` command line on tests/data/models/char_tiny (and on the
bundled model when models/shakespeare-char exists).

Usage: test_cli.py TEXTGEN_BINARY SOURCE_ROOT CASE   (CASE "all" runs every case)

char_tiny's vocabulary: ids 0..95 are "\\n" then ASCII 32..126, 96 is <|endoftext|>; its
reference.json holds PyTorch's greedy continuation of its prompt. Standard library only."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import xml.etree.ElementTree as ET

BIN, SRC = sys.argv[1], sys.argv[2]
MODEL = os.path.join(SRC, "tests", "data", "models", "char_tiny")
BUNDLED = os.path.join(SRC, "models", "shakespeare-char")
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
SVG_NS = "{http://www.w3.org/2000/svg}"
BUILTINS = {
    # processor: parameters (every built-in plugin of plugins/)
    "temperature": ["t"], "top_k": ["k"], "top_p": ["p", "min_keep"],
    "min_p": ["p", "min_keep"], "typical": ["p", "min_keep"], "top_n_sigma": ["n"],
    "xtc": ["probability", "threshold", "min_keep"], "mirostat_v2": ["tau", "eta"],
    "repetition_penalty": ["penalty", "last_n", "include_prompt"],
    "frequency_penalty": ["penalty", "last_n", "include_prompt"],
    "presence_penalty": ["penalty", "last_n", "include_prompt"],
    "dry": ["multiplier", "base", "allowed_length", "last_n", "breakers"],
    "no_repeat_ngram": ["n"], "logit_bias": [], "bad_words": ["ids"],
    "min_new_tokens": ["n"], "greedy": [], "dist": ["seed"],
    "length_penalty": ["alpha"], "diverse_groups": ["groups", "penalty"],  # beam scorers
}

with open(os.path.join(MODEL, "reference.json")) as f:
    REF = json.load(f)
PROMPT = "".join(CHARS[i] for i in REF["prompt"])
GREEDY = "".join(CHARS[i] for i in REF["greedy"])


def env_without_model(**extra):
    env = dict(os.environ)
    env.pop("TEXTGEN_MODEL", None)
    env.update(extra)
    return env


def run(*args, stdin=None, env=None):
    """Run textgen; returns (exit code, stdout text, stderr text)."""
    p = subprocess.run([BIN, *args], input=stdin if stdin is not None else "",
                       capture_output=True, text=True, env=env or env_without_model(),
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


def ok(*args, **kw):
    """textgen must succeed quietly (stderr empty: no warnings, no sanitizer reports)."""
    rc, out, err = run(*args, **kw)
    assert rc == 0, f"textgen {args} exited {rc}: {err}"
    assert err == "", f"textgen {args} wrote to stderr: {err}"
    return out


def fails(code, args, *needles, **kw):
    """textgen must exit with `code` and print exactly one line on stderr containing needles."""
    rc, out, err = run(*args, **kw)
    assert rc == code, f"textgen {args}: exit {rc}, wanted {code}; stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"textgen {args}: want one line on stderr, got {lines!r}"
    assert lines[0].startswith("textgen: "), lines[0]
    for n in needles:
        assert n in lines[0], f"textgen {args}: {n!r} not in {lines[0]!r}"
    return lines[0]


def esc(text):
    """Tokens as the explain view writes them."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def width(line):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


# ---- cases ----

def case_greedy():
    """The exact PyTorch greedy continuation, from the argument, -p and stdin."""
    assert ok("-m", MODEL, "-n", "50", "--temperature", "0", PROMPT) == GREEDY
    assert ok("-m", MODEL, "-n", "50", "--samplers", "greedy", "-p", PROMPT) == GREEDY
    assert ok("-m", MODEL, "-n", "50", "--samplers", "greedy", stdin=PROMPT) == GREEDY
    assert ok("-m", MODEL, "-n", "7", "--samplers", "greedy", PROMPT) == GREEDY[:7]
    out = ok("-m", MODEL, "-n", "5", "--samplers", "greedy", "--echo", PROMPT)
    assert out == PROMPT + GREEDY[:5], repr(out)
    # no prompt and stdin a terminal: start from the model's bos token, do not wait for input
    master, slave = os.openpty()
    try:
        p = subprocess.run([BIN, "-m", MODEL, "-n", "3", "--samplers", "greedy", "--json"],
                           stdin=slave, capture_output=True, text=True, env=env_without_model(),
                           timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    r = json.loads(p.stdout)
    assert r["prompt"] == "" and r["prompt_tokens"] == [96] and len(r["tokens"]) == 3
    # TEXTGEN_MODEL is the default model folder
    assert ok("-n", "5", "--samplers", "greedy", PROMPT,
              env=env_without_model(TEXTGEN_MODEL=MODEL)) == GREEDY[:5]


def case_json():
    """--json: every field, and text equals the streamed stdout of the same run."""
    for args in (["-n", "50", "--temperature", "0"],
                 ["-n", "30", "--top-k", "10", "--temperature", "0.9", "--seed", "11"]):
        streamed = ok("-m", MODEL, *args, PROMPT)
        r = json.loads(ok("-m", MODEL, *args, "--json", PROMPT))
        assert r["text"] == streamed, (r["text"], streamed)
        assert r["prompt"] == PROMPT
        assert r["prompt_tokens"] == REF["prompt"]
        assert "".join(CHARS[i] for i in r["tokens"]) == r["text"]
        assert len(r["logprobs"]) == len(r["tokens"])
        assert all(lp is not None and lp <= 1e-6 for lp in r["logprobs"]), r["logprobs"]
        assert r["stop_reason"] == "max_tokens"
        assert r["model"] == MODEL
        for k in ("load_s", "prompt_s", "generate_s", "sample_s", "prompt_tokens_per_s",
                  "tokens_per_s"):
            assert isinstance(r["timing"][k], (int, float)) and r["timing"][k] >= 0, k
        assert r["timing"]["n_prompt"] == len(REF["prompt"])
        assert r["timing"]["n_generated"] == len(r["tokens"])
    r = json.loads(ok("-m", MODEL, "-n", "50", "--temperature", "0", "--json", PROMPT))
    assert r["tokens"] == REF["greedy"]
    assert r["samplers"] == "greedy"
    r = json.loads(ok("-m", MODEL, "-n", "3", "--json", "--seed", "5", PROMPT))
    assert r["samplers"] is None and r["seed"] == 5  # generation_config.json decides
    # --verbose: statistics on stderr, stdout unchanged
    rc, out, err = run("-m", MODEL, "-n", "50", "--temperature", "0", "--verbose", PROMPT)
    assert rc == 0 and out == GREEDY, err
    assert re.search(r"^textgen: model .*char_tiny: .* loaded in [\d.]+ ms$", err, re.M), err
    assert re.search(r"^textgen: prompt: 20 tokens in [\d.]+ ms \([\d.]+ tokens/s\)$", err, re.M)
    assert re.search(r"^textgen: generation: 50 tokens in [\d.]+ ms \([\d.]+ tokens/s\), "
                     r"sampling [\d.]+% of it; stop: max_tokens$", err, re.M), err


def case_tokenize():
    out = ok("-m", MODEL, "--tokenize", PROMPT)
    assert out.endswith("\n") and json.loads(out) == REF["prompt"]
    assert json.loads(ok("-m", MODEL, "--tokenize", "ROMEO:")) == [51, 48, 46, 38, 48, 27]
    assert json.loads(ok("-m", MODEL, "--tokenize", stdin="a\n")) == [CHARS.index("a"), 0]
    assert json.loads(ok("-m", MODEL, "--tokenize", "")) == []


def case_stop():
    """Generation ends before the first stop string; the stop string is not printed."""
    stop = GREEDY[20:23]
    cut = GREEDY.index(stop)
    assert ok("-m", MODEL, "-n", "50", "--temperature", "0", "--stop", stop, PROMPT) == \
        GREEDY[:cut]
    r = json.loads(ok("-m", MODEL, "-n", "50", "--temperature", "0", "--stop", stop, "--json",
                      PROMPT))
    assert r["stop_reason"] == "stop_string" and r["text"] == GREEDY[:cut]
    # repeatable: the earliest match wins
    other = GREEDY[5:7]
    first = min(cut, GREEDY.index(other))
    assert ok("-m", MODEL, "-n", "50", "--temperature", "0", "--stop", stop, "--stop", other,
              PROMPT) == GREEDY[:first]
    # a stop string that never appears changes nothing
    assert ok("-m", MODEL, "-n", "50", "--temperature", "0", "--stop", "\\n\\n", PROMPT) == GREEDY


def case_knobs():
    """The knobs build the same chain as the equivalent --samplers spec."""
    knobs = ["--repeat-penalty", "1.2", "--top-k", "20", "--top-p", "0.9", "--min-p", "0.02",
             "--temperature", "0.8"]
    spec = ("repetition_penalty(penalty=1.2) top_k(k=20) top_p(p=0.9) min_p(p=0.02) "
            "temperature(t=0.8) dist")
    for seed in ("1", "2", "3"):
        a = ok("-m", MODEL, "-n", "40", "--seed", seed, *knobs, PROMPT)
        b = ok("-m", MODEL, "-n", "40", "--seed", seed, "--samplers", spec, PROMPT)
        assert a == b and len(a) == 40, (a, b)
    # --samplers overrides the knobs
    assert ok("-m", MODEL, "-n", "50", "--top-k", "3", "--temperature", "2", "--samplers",
              "greedy", PROMPT) == GREEDY
    # one knob alone: the rest of the chain is not the model's generation_config.json
    a = ok("-m", MODEL, "-n", "40", "--seed", "4", "--top-k", "5", PROMPT)
    b = ok("-m", MODEL, "-n", "40", "--seed", "4", "--samplers", "top_k(k=5) dist", PROMPT)
    assert a == b


def case_weights():
    """--weights: f32 and auto give PyTorch's greedy text exactly; bf16 and int8 (quantized at
    load from this F32 file) still give it on this model; -v names the precision; a bad value is
    a usage error naming it."""
    for w in ("auto", "f32", "bf16", "int8"):
        assert ok("-m", MODEL, "-n", "50", "--temperature", "0", "--weights", w,
                  PROMPT) == GREEDY, w
    rc, out, err = run("-m", MODEL, "-n", "2", "-v", "--weights", "int8", PROMPT)
    assert rc == 0 and re.search(r"parameters, int8 weights, bf16 KV cache, loaded", err), err
    fails(2, ["-m", MODEL, "--weights", "int4", "x"], "--weights", "int4", "auto, f32, bf16 or int8")


def case_kv_type():
    """--kv-type: a bf16 cache (chosen, or auto with bf16 weights) still gives PyTorch's greedy
    text on this model; -v names the cache's type; a bad value is a usage error naming it."""
    for w, kv in (("f32", "bf16"), ("bf16", "auto"), ("bf16", "f32"), ("int8", "auto")):
        assert ok("-m", MODEL, "-n", "50", "--temperature", "0", "--weights", w, "--kv-type", kv,
                  PROMPT) == GREEDY, (w, kv)
    for w, kv, want in (("f32", "auto", "f32"), ("bf16", "auto", "bf16"), ("int8", "auto", "bf16"),
                        ("f32", "bf16", "bf16"), ("int8", "f32", "f32")):
        rc, out, err = run("-m", MODEL, "-n", "2", "-v", "--weights", w, "--kv-type", kv, PROMPT)
        assert rc == 0 and f"{w} weights, {want} KV cache, loaded" in err, (w, kv, err)
    fails(2, ["-m", MODEL, "--kv-type", "f16", "x"], "--kv-type", "f16", "auto, f32 or bf16")


def case_seed():
    args = ["-m", MODEL, "-n", "40", "--temperature", "1.5"]
    a = ok(*args, "--seed", "42", PROMPT)
    assert a == ok(*args, "--seed", "42", PROMPT)
    assert a == ok(*args, "--seed", "42", "--threads", "2", PROMPT)
    others = {ok(*args, "--seed", s, PROMPT) for s in ("1", "2", "3")}
    assert any(o != a for o in others)
    # without --seed every run draws a seed, reported in --json
    r = json.loads(ok(*args, "--json", PROMPT))
    assert isinstance(r["seed"], int) and r["seed"] >= 0
    assert ok(*args, "--seed", str(r["seed"]), PROMPT) == r["text"]


def case_list_plugins():
    out = ok("--list-plugins")
    blocks = {}
    for block in out.split("\n\n")[1:]:
        head = block.splitlines()[0]
        m = re.match(r"(\w+) \((transform|filter|selector|stop criterion|beam scorer)\): \S", head)
        assert m, head
        blocks[m.group(1)] = block
    for name, params in BUILTINS.items():
        assert name in blocks, f"{name} missing from --list-plugins"
        b = blocks[name]
        assert re.search(r"^    plugin \S+ \S+.*\.so$", b, re.M), b
        for p in params:
            m = re.search(rf"^    {p}  (float|int|bool|string|ids), (default .*|required)\n"
                          rf"        \S", b, re.M)
            assert m, f"{name}: parameter {p} not listed:\n{b}"
    assert re.search(r"^    k  int, default 40, range \[0, 1000000000\]$", blocks["top_k"], re.M)
    assert "(no parameters)" in blocks["greedy"]


def parse_explain(out):
    """Split --explain output into (tables, continuation)."""
    legend = "\n✓ kept  ✗ cut by this stage  · cut earlier  final: probability at the selector\n"
    assert legend in out, out
    tables, rest = out.split(legend, 1)
    assert rest.startswith("\n"), repr(rest[:20])
    return tables, rest[1:]


def case_explain():
    spec = "top_k(k=8) top_p(p=0.5) temperature(t=1.3) dist"
    args = ["-m", MODEL, "-n", "6", "--seed", "9", "--samplers", spec]
    plain = ok(*args, PROMPT)
    out = ok(*args, "--explain", "4", PROMPT)
    tables, cont = parse_explain(out)
    assert cont == plain, (cont, plain)
    for line in out.splitlines():
        assert width(line) <= 80, f"wider than 80 columns: {line!r}"
    assert tables.startswith("chain: top_k(k=8) top_p(p=0.5, min_keep=1) temperature(t=1.3) "
                             "dist(seed=-1)\n")
    steps = re.findall(r"^step (\d+) of 4: chose '(.*)' \(log-probability (-?[\d.]+)\)$",
                       tables, re.M)
    assert [int(s[0]) for s in steps] == [1, 2, 3, 4], steps
    # the explained choices are the first tokens of the continuation
    assert "".join(s[1] for s in steps) == esc(plain[:4]), (steps, plain)
    for step in tables.split("\nstep ")[1:]:
        assert re.search(r"^   1 top_k\(k=8\) +97 → 8$", step, re.M), step
        assert re.search(r"^   2 top_p\(p=0\.5, min_keep=1\) +8 → \d$", step, re.M), step
        assert re.search(r"^   4 dist\(seed=-1\) +\d → '.*'$", step, re.M), step
        assert "p, cum: the distribution entering stage 2, top_p" in step
        assert re.search(r"^    #  token +p +cum  bar +1 2 3   final$", step, re.M), step
        rows = re.findall(r"^ +(\d+)  '(.*?)' +([\d.]+)% +([\d.]+)%  \S+ +([✓✗·]) ([✓✗·]) "
                          r"([✓✗·]) +(—|[\d.]+%)( ◀ chosen)?$", step, re.M)
        assert len(rows) == 8, step  # top_k keeps 8, all shown
        assert sum(1 for r in rows if r[8]) == 1, step
        # top_p keeps rows up to the first whose cum reaches p, and cuts the rest
        reached = False
        for r in rows:
            assert r[4] == "✓"  # top_k kept all eight
            assert r[5] == ("✗" if reached else "✓"), (r, step)
            assert r[6] == ("·" if reached else "✓")
            assert (r[7] == "—") == reached
            reached = reached or float(r[3]) >= 50.0
    # a bare --explain is 3 steps and leaves the prompt alone
    out = ok("-m", MODEL, "-n", "3", "--samplers", "greedy", "--explain", PROMPT)
    tables, cont = parse_explain(out)
    assert cont == GREEDY[:3] and "step 3 of 3" in tables and "step 4" not in tables
    # without top_p the columns describe the model's distribution
    assert "p, cum: the model's distribution (entering stage 1)" in tables


def case_explain_svg():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "steps.svg")
        args = ["-m", MODEL, "-n", "5", "--seed", "3", "--top-k", "15", "--top-p", "0.6"]
        plain = ok(*args, PROMPT)
        assert ok(*args, "--explain-svg", path, PROMPT) == plain  # stdout unchanged
        root = ET.parse(path).getroot()
        assert root.tag == SVG_NS + "svg"
        texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
        assert sum(t.startswith("Step ") for t in texts) == 3, texts
        assert texts.count("top_p p = 0.6") == 3
        bars = [r for r in root.iter(SVG_NS + "rect") if r.find(SVG_NS + "title") is not None]
        colours = {r.get("fill") for r in bars}
        assert len(bars) >= 3 * 15 and colours <= {"#2e7d32", "#e57373"}, colours
        assert "#e57373" in colours  # top_p cut some
        assert sum(1 for r in bars if r.get("stroke") == "#000") == 3  # one chosen per step
        assert len(list(root.iter(SVG_NS + "polyline"))) >= 3
        # with --json too, and with --explain N
        r = json.loads(ok(*args, "--explain-svg", path, "--json", PROMPT))
        assert r["text"] == plain
        ok(*args, "--explain", "2", "--explain-svg", path, PROMPT)
        root = ET.parse(path).getroot()
        assert sum("".join(t.itertext()).startswith("Step ")
                   for t in root.iter(SVG_NS + "text")) == 2


def case_errors():
    fails(2, ["--no-such-option"], "--no-such-option")
    fails(2, ["-m", MODEL, "-n", "abc", "x"], "-n", "abc")
    fails(2, ["-m", MODEL, "--top-p", "1.5", "x"], "--top-p", "1.5")
    # Below top_p's least p: a usage error naming the option, never a position in a spec
    # the user did not write (what a fuzzer found through generation_config.json).
    fails(2, ["-m", MODEL, "--top-p", "1e-40", "x"], "--top-p wants a number in [1e-9, 1]", "1e-40")
    fails(2, ["-m", MODEL, "--repeat-penalty", "1e-8", "x"], "--repeat-penalty", "1e-8")
    fails(2, ["-m", MODEL, "--temperature", "hot", "x"], "--temperature", "hot")
    fails(2, ["-m", MODEL, "--seed", "-1", "x"], "--seed")
    fails(2, ["-m", MODEL, "--explain", "0", "x"], "--explain")
    fails(2, ["-m", MODEL, "two", "prompts"], "quote the prompt")
    fails(2, ["-m", MODEL, "--json", "--explain", "x"], "--json")
    missing = os.path.join(SRC, "tests", "data", "models", "no_such_model")
    fails(1, ["-m", missing, "x"], "model folder", missing, "does not exist")
    fails(1, ["-m", os.path.join(SRC, "tests", "data"), "x"], "cannot load model", "config.json")
    line = fails(1, ["-m", MODEL, "--samplers", "top_k(k=40) top_q(p=0.9) dist", "x"],
                 "bad sampler spec", "top_q")
    assert re.search(r"position 13\b", line), line
    fails(1, ["-m", MODEL, "--samplers", "top_k(k=-5) dist", "x"], "position", "out of range")
    fails(1, ["-m", MODEL, "--samplers", "top_k(k=5)", "x"], "selector")
    fails(1, ["-m", MODEL, "--samplers", "top_q dist", "--explain", "x"], "position")
    fails(1, ["-m", MODEL, "--plugin-dir", "/no/such/plugins", "x"], "plugin folder",
          "/no/such/plugins", "does not exist")
    fails(1, ["-m", MODEL, "--plugin-dir", os.path.join(MODEL, "config.json"), "x"],
          "is not a folder")
    bad = os.environ.get("TG_TEST_PLUGINS")
    if bad:  # the test-only plugins are refused, each with a reason naming the file
        fails(1, ["-m", MODEL, "--plugin-dir", bad, "x"], "refusing plugin",
              os.path.join(bad, "bad_abi.so"), "ABI version")
    with tempfile.TemporaryDirectory() as tmp:  # a file that is not a plugin at all
        junk = os.path.join(tmp, "junk.so")
        with open(junk, "w") as f:
            f.write("not a shared object\n")
        fails(1, ["-m", MODEL, "--plugin-dir", tmp, "x"], "refusing plugin", junk)
    fails(1, ["-m", MODEL, "--explain-svg", "/no/such/dir/x.svg", "x"], "/no/such/dir/x.svg")
    # --help is not an error
    rc, out, err = run("--help")
    assert rc == 0 and "--max-new-tokens" in out and "--explain" in out and err == ""


GOLDENS = os.path.join(SRC, "tests", "reference", "beam", "goldens.json")


def golden(name):
    with open(GOLDENS) as f:
        return next(c for c in json.load(f)["cases"] if c["name"] == name)


def beam_args(g):
    """The command line asking for a golden case of the PyTorch beam search reference."""
    lp = re.search(r"length_penalty\(alpha=([^)]*)\)", g["beam_scorers"]).group(1)
    args = ["-m", os.path.join(SRC, "tests", "data", "models", g["model"]),
            "-n", str(g["max_new_tokens"]), "--samplers", g["samplers"],
            "--beams", str(g["num_beams"]), "--num-return", str(g["num_return_sequences"]),
            "--length-penalty", lp, "--early-stopping", g["early_stopping"]]
    extra = g["beam_scorers"].replace("length_penalty(alpha=%s)" % lp, "").strip()
    if extra:
        args += ["--beam-scorers", extra]
    for stop in g["stop_strings"]:
        args += ["--stop", stop]
    return args + [g["prompt"]]


def case_beams():
    """--beams and friends: the reference's sequences, streamed best text, the JSON shape."""
    for name in ("tiny_b3", "eos_b3_lp1_never", "eos_b4_lp0_true", "stop_string",
                 "diverse_groups"):
        g = golden(name)
        args = beam_args(g)
        streamed = ok(*args)
        assert streamed == g["sequences"][0]["text"], (name, streamed)
        r = json.loads(ok(*args[:-1], "--json", args[-1]))
        assert r["text"] == streamed and r["num_beams"] == g["num_beams"]
        assert r["tokens"] == g["sequences"][0]["tokens"]
        assert len(r["sequences"]) == len(g["sequences"]), name
        for got, want in zip(r["sequences"], g["sequences"]):
            assert sorted(got) == ["score", "stop_reason", "text", "tokens"], sorted(got)
            assert got["tokens"] == want["tokens"] and got["text"] == want["text"], (name, got)
            assert got["stop_reason"] == want["stop_reason"], (name, got)
            assert abs(got["score"] - want["score"]) < 1e-4, (name, got["score"], want["score"])
        # the others and their scores on stderr under --verbose; stdout unchanged
        rc, out, err = run(*args[:-1], "--verbose", args[-1])
        assert rc == 0 and out == streamed, err
        lines = re.findall(r"^textgen: sequence (\d+) of (\d+)( \(stdout\))?: score (-?[\d.]+), "
                           r"(\w+): '(.*)'$", err, re.M)
        assert len(lines) == len(g["sequences"]), err
        for (i, n, best, score, why, text), want in zip(lines, g["sequences"]):
            assert (best != "") == (i == "1") and int(n) == len(g["sequences"])
            assert abs(float(score) - want["score"]) < 1e-5 and why == want["stop_reason"]
            assert text == esc(want["text"]), (text, want["text"])
        assert re.search(r"^textgen: beam search: %d beams, %d steps in [\d.]+ ms" %
                         (g["num_beams"], g["steps"]), err, re.M), err
    # --beams 1 is the generation of before
    assert ok("-m", MODEL, "-n", "50", "--samplers", "greedy", "--beams", "1", PROMPT) == GREEDY
    r = json.loads(ok("-m", MODEL, "-n", "5", "--samplers", "greedy", "--json", PROMPT))
    assert len(r["sequences"]) == 1 and r["sequences"][0]["text"] == GREEDY[:5]
    assert r["num_beams"] == 1
    # usage errors (2) before anything runs; runtime errors (1) name the cause
    fails(2, ["-m", MODEL, "--num-return", "2", "x"], "--num-return needs beam search")
    fails(2, ["-m", MODEL, "--length-penalty", "2", "x"], "--length-penalty needs beam search")
    fails(2, ["-m", MODEL, "--beams", "2", "--num-return", "3", "x"],
          "--num-return 3 is more than --beams 2")
    fails(2, ["-m", MODEL, "--beams", "2", "--early-stopping", "maybe", "x"],
          "--early-stopping wants true, false or never, not 'maybe'")
    fails(2, ["-m", MODEL, "--beams", "2", "--length-penalty", "nan", "x"], "--length-penalty",
          "nan")
    fails(2, ["-m", MODEL, "--beams", "0", "x"], "--beams", "'0'")
    fails(2, ["-m", MODEL, "--beams", "2", "--explain", "x"], "--explain", "--beams")
    fails(1, ["-m", MODEL, "--beams", "4", "--beam-scorers", "diverse_groups(groups=3)", "x"],
          "groups = 3 does not divide num_beams = 4")
    fails(1, ["-m", MODEL, "--beams", "5000", "x"], "num_beams = 5000", "out of range")
    fails(1, ["-m", MODEL, "--beams", "2", "--beam-scorers", "top_k(k=2)", "x"],
          "'top_k' is a filter, not a beam scorer")
    fails(1, ["-m", MODEL, "--beams", "2", "--samplers", "mirostat_v2", "x"],
          "selector 'mirostat_v2'")
    # a model whose generation_config.json asks for beams: that search, unless --beams says else
    with tempfile.TemporaryDirectory() as d:
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            shutil.copy(os.path.join(MODEL, f), d)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.5,
                       "max_new_tokens": 10}, f)
        r = json.loads(ok("-m", d, "--json", PROMPT))
        spelt = json.loads(ok("-m", MODEL, "--samplers", "greedy", "--beams", "3", "--num-return",
                              "2", "--length-penalty", "0.5", "-n", "10", "--json", PROMPT))
        assert r["num_beams"] == 3 and len(r["sequences"]) == 2, r
        assert r["sequences"] == spelt["sequences"], (r["sequences"], spelt["sequences"])
        rc, out, err = run("-m", d, "--verbose", PROMPT)
        assert rc == 0 and out == r["text"], err
        assert re.search(r"^textgen: beam search: 3 beams, ", err, re.M), err
        assert re.search(r"^textgen: beam scorers: length_penalty\(alpha=0.5\)$", err, re.M), err
        one = json.loads(ok("-m", d, "--beams", "1", "--json", PROMPT))
        assert one["num_beams"] == 1 and len(one["sequences"]) == 1
        assert one["text"] == GREEDY[:10], one["text"]
        assert ok("-m", d, "--explain", "-n", "2", PROMPT)  # one sequence, traced


def case_default_model():
    """Without -m and TEXTGEN_MODEL: the bundled model from the build tree."""
    if os.path.isdir(BUNDLED):
        out = ok("-n", "20", "--seed", "1", "ROMEO:")
        assert len(out) > 0
        r = json.loads(ok("-n", "5", "--seed", "1", "--json", "ROMEO:"))
        assert os.path.realpath(r["model"]) == os.path.realpath(BUNDLED)
        assert r["timing"]["n_generated"] > 0
    else:
        line = fails(1, ["x"], "no model", "shakespeare-char", "-m DIR")
        print("skipped the bundled model (not there yet):", line)


def run_bytes(*args, stdin=b"", env=None):
    """Like run(), with arguments and stdin given as bytes (any bytes, valid UTF-8 or not)."""
    p = subprocess.run([BIN.encode(), *args], input=stdin, capture_output=True,
                       env=env or env_without_model(), timeout=300)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def byte_level_model(tmp):
    """A tiny random GPT-2 with the real GPT-2 byte-level tokenizer (50257 ids), so any text
    tokenizes. Made with bench/make_gpt2_model (milliseconds, ~7 MB)."""
    maker = os.path.join(os.environ["TG_BUILD_ROOT"], "bench", "make_gpt2_model")
    d = os.path.join(tmp, "gpt2-tiny")
    subprocess.run([maker, d, "--layers", "1", "--embd", "32", "--heads", "2", "--ctx", "64",
                    "--seed", "3"], check=True, capture_output=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(SRC, "tests", "data", "tokenizer", "gpt2", f), d)
    return d


UNICODE_TEXTS = ["café crème brûlée", "Привет, мир", "日本語のテキストと中文", "emoji 😀 👍🏽 🇫🇷",
                 "e\u0301 a\u0308 combining", "mixed: naïve Ωμέγα 한국어 ✓"]
LOCALES = [{"LANG": "C"}, {"LANG": "C.UTF-8"}, {}]  # {}: LANG unset


def locale_env(loc):
    env = env_without_model()
    for k in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE"):
        env.pop(k, None)
    env.update(loc)
    return env


def case_unicode():
    """Arguments are the bytes the user typed, in every locale: non-ASCII prompts through the
    argument and -p equal the same text on stdin; non-ASCII stop strings; invalid UTF-8 and NUL
    bytes refused with the argument and the byte offset named."""
    with tempfile.TemporaryDirectory() as tmp:
        m = byte_level_model(tmp)
        for loc in LOCALES:
            env = locale_env(loc)
            for text in UNICODE_TEXTS:
                b = text.encode()
                outs = []
                for args, stdin in (([b], b""), ([b"-p", b], b""), ([], b)):
                    rc, out, err = run_bytes(b"-m", m.encode(), b"--tokenize", *args,
                                             stdin=stdin, env=env)
                    assert rc == 0 and err == "", (loc, text, args, err)
                    outs.append(json.loads(out))
                assert outs[0] == outs[1] == outs[2] and len(outs[0]) >= 2, (loc, text, outs)
                gen = []
                for args, stdin in (([b], b""), ([b"-p", b], b""), ([], b)):
                    rc, out, err = run_bytes(b"-m", m.encode(), b"--json", b"-n", b"4",
                                             b"--temperature", b"0", *args, stdin=stdin, env=env)
                    assert rc == 0 and err == "", (loc, text, args, err)
                    r = json.loads(out)
                    assert r["prompt"] == text, (r["prompt"], text)
                    assert r["prompt_tokens"] == outs[0]
                    gen.append((r["tokens"], r["text"]))
                assert gen[0] == gen[1] == gen[2], (loc, text, gen)
        # non-ASCII stop strings: force the token of "é" with logit_bias, then stop on it
        ids = json.loads(ok("-m", m, "--tokenize", "é"))
        assert len(ids) == 1, ids
        spec = 'logit_bias(bias="%d:1000") greedy' % ids[0]
        for loc in LOCALES:
            env = locale_env(loc)
            r = json.loads(ok("-m", m, "--json", "-n", "3", "--samplers", spec, "x", env=env))
            assert r["text"] == "ééé" and r["stop_reason"] == "max_tokens", r
            r = json.loads(ok("-m", m, "--json", "-n", "3", "--samplers", spec, "--stop", "é",
                              "x", env=env))
            assert r["text"] == "" and r["stop_reason"] == "stop_string", r
            r = json.loads(ok("-m", m, "--json", "-n", "2", "--samplers", spec, "--stop", "éé。",
                              "x", env=env))
            assert r["text"] == "éé" and r["stop_reason"] == "max_tokens", r
            assert ok("-m", m, "-n", "3", "--samplers", spec, "--stop", "。", "x",
                      env=env) == "ééé"
    # invalid UTF-8: the argument and the byte offset are named; usage error
    for loc in LOCALES:
        env = locale_env(loc)
        for args, what in (([b"RO\xffMEO"], "the prompt argument"),
                           ([b"-p", b"caf\xc3"], "the prompt (-p)"),
                           ([b"--stop", b"\xe3\x80", b"x"], "--stop #1"),
                           ([b"--stop", b"a", b"--stop", b"b\xc0\xafc", b"x"], "--stop #2"),
                           ([b"--samplers", b"top_k(k=4) dist\xfe", b"x"], "--samplers")):
            rc, out, err = run_bytes(b"-m", MODEL.encode(), *args, env=env)
            assert rc == 2 and out == b"", (args, rc, err)
            assert err.count("\n") == 1 and err.startswith("textgen: " + what), err
            assert "not valid UTF-8" in err and "byte offset" in err, err
        rc, out, err = run_bytes(b"-m", MODEL.encode(), b"--json", stdin=b"RO\xffMEO", env=env)
        assert rc == 2 and "the prompt read from stdin is not valid UTF-8: byte 0xFF at byte " \
            "offset 2" in err, err
        # a NUL byte on stdin is refused, never a silently shorter prompt
        rc, out, err = run_bytes(b"-m", MODEL.encode(), b"--json", b"-n", b"3",
                                 stdin=b"RO\0MEO:", env=env)
        assert rc == 2 and out == b"" and "NUL byte at offset 2" in err, (rc, err)
    # a character the char vocabulary does not know: one message and exit 1 on every path
    want = "textgen: cannot tokenize the prompt: "
    for args in (["é"], ["--tokenize", "é"], ["--json", "é"], ["--explain", "1", "é"],
                 ["--explain-svg", "/dev/null", "é"], ["-p", "é"]):
        line = fails(1, ["-m", MODEL, *args], "U+00E9", "byte offset 0")
        assert line.startswith(want), line
    line = fails(1, ["-m", MODEL, "--tokenize"], "U+00E9", stdin="é")
    assert line.startswith(want), line


def case_llama_qwen():
    """textgen -m on the tiny Llama and Qwen2 folders: greedy tokens equal PyTorch's (up to the
    first end id, where the CLI stops), in fp32 and in bf16 where the file is BF16."""
    models = os.path.join(SRC, "tests", "data", "models")
    seen = 0
    for name in sorted(os.listdir(models)):
        if not name.startswith(("llama_", "qwen2_")):
            continue
        d = os.path.join(models, name)
        with open(os.path.join(d, "reference.json")) as f:
            ref = json.load(f)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        ends = cfg.get("eos_token_id")
        ends = set(ends if isinstance(ends, list) else [ends])
        want = ref.get("text_greedy")
        r = json.loads(ok("-m", d, "--json", "-n", "30", "--temperature", "0",
                          ref["text_prompt"]))
        assert r["prompt"] == ref["text_prompt"], r
        if want and cfg.get("torch_dtype") != "bfloat16":
            k = next((i + 1 for i, t in enumerate(want) if t in ends), len(want))
            assert r["tokens"] == want[:k], (name, r["tokens"], want[:k])
            assert r["stop_reason"] == ("eos" if k < len(want) or want[-1] in ends
                                        else "max_tokens"), (name, r["stop_reason"])
        else:  # a BF16 file: it runs and says why it stopped
            assert len(r["tokens"]) >= 1 and r["stop_reason"] in ("eos", "max_tokens"), r
        seen += 1
    assert seen >= 5, seen


CASES = {n[5:]: f for n, f in sorted(globals().items()) if n.startswith("case_")}

if __name__ == "__main__":
    wanted = sys.argv[3] if len(sys.argv) > 3 else "all"
    names = list(CASES) if wanted == "all" else [wanted]
    for n in names:
        CASES[n]()
        print("ok", n)
