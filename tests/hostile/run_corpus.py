#!/usr/bin/python3
"""Run the hostile corpus (manifest.json) and check every case's answer.

    run_corpus.py --case-bin BUILD/tests/hostile/hostile_case --cli BUILD/tools/textgen/textgen \
                  --plugins BUILD/tests/hostile [--sanitized] [--show] [NAME...]

Each case runs in its own process, on a folder materialized at test time in a private temporary
folder (base files, the case's files, then its setup steps: FIFOs, symlinks, deep JSON, sparse
files, a 40 MB tokenizer, copies of the hostile plugins). A case passes when its process ends
normally within the time limit, with no sanitizer report, and answers with the expected status
and every expected substring, in a message that is valid UTF-8 (and, for cases with
max_rss_mb, without sanitizers, within that peak memory).

Cases marked "xfail" in the manifest hold the answer we want but do not get yet: they must fail
(XFAIL). One that passes (XPASS) fails the run, so whoever fixed it removes the mark in
gen_corpus.py. --show prints every case's actual answer. Standard library only."""
import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


def status_names():
    """TG_* name -> value, read from the public header (the one place they are defined)."""
    root = os.environ.get("TG_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
    with open(os.path.join(root, "include", "textgen", "common.h")) as f:
        text = f.read()
    names = dict((m.group(1), int(m.group(2)))
                 for m in re.finditer(r"\b(TG_[A-Z]+)\s*=\s*(-?\d+)\s*,?\s*/\*\*<", text))
    assert "TG_OK" in names and "TG_ESPEC" in names, "cannot read the status codes of common.h"
    return names


# ---- materializing a case's folder -------------------------------------------------------------

def split_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return data[8:8 + n], data[8 + n:]


def place(folder, name):
    path = os.path.join(folder, name)
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    return path


def nested(depth):
    return b"[" * depth + b"]" * depth


def big_tokenizer(path, entries):
    with open(path, "wb") as f:
        f.write(b'{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null,'
                b' "decoder": {"type": "Fuse"}, "model": {"type": "BPE", "merges": [], "vocab": {')
        for i in range(entries):
            f.write(b'%s"t%d": %d' % (b", " if i else b"", i, i))
        f.write(b"}}}\n")


def setup_step(step, folder, args):
    op = step["op"]
    if op == "fifo":
        os.mkfifo(place(folder, step["file"]), 0o600)
    elif op == "symlink":
        os.symlink(step["target"], place(folder, step["file"]))
    elif op == "mkdir":
        os.mkdir(place(folder, step["file"]))
    elif op == "nested_json":
        with open(place(folder, step["file"]), "wb") as f:
            f.write(b'{"x": ' + nested(step["depth"]) + b"}")
    elif op == "nested_safetensors":
        header = b'{"__metadata__": {"a": ' + nested(step["depth"]) + b"}}"
        with open(place(folder, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
    elif op == "safetensors":
        base_header, base_data = split_safetensors(
            os.path.join(CORPUS, "base", "tiny", "model.safetensors"))
        with open(os.path.join(folder, step["header"]), "rb") as f:
            header = f.read()
        os.remove(os.path.join(folder, step["header"]))
        data, how = base_data, step["data"]
        if isinstance(how, dict) and "trim" in how:
            data = base_data[:len(base_data) - how["trim"]]
        elif isinstance(how, dict) and "extend" in how:
            data = base_data + b"\0" * how["extend"]
        elif isinstance(how, dict) and "prepend" in how:
            data = b"\0" * how["prepend"] + base_data
        elif isinstance(how, dict) and "zeros" in how:
            data = b""  # written as a hole below: large and free on disk
        length = step.get("length", len(header))
        path = place(folder, "model.safetensors")
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", length) + header + data)
        if isinstance(how, dict) and "zeros" in how:
            os.truncate(path, 8 + len(header) + how["zeros"])
    elif op == "sparse_extend":
        os.truncate(os.path.join(folder, step["file"]), step["size"])
    elif op == "big_tokenizer":
        big_tokenizer(place(folder, step["file"]), step["entries"])
    elif op == "copy_plugin":
        dst = place(folder, step["name"] + ".so")
        shutil.copyfile(os.path.join(args.plugins, step["name"] + ".so"), dst)
        os.chmod(dst, int(step.get("mode", "0755"), 8))
    else:
        raise ValueError("unknown setup step %r" % op)


def materialize(case, folder, args):
    os.makedirs(folder)
    spec = case["folder"]
    sources = []
    if spec["base"]:
        sources.append(os.path.join(CORPUS, "base", spec["base"]))
    if spec["files"]:
        sources.append(os.path.join(CORPUS, spec["files"]))
    for src in sources:  # the case's files overlay the base's
        for name in os.listdir(src):
            shutil.copyfile(os.path.join(src, name), os.path.join(folder, name))
    for name in spec["remove"]:
        place(folder, name)
    for step in spec["setup"]:
        setup_step(step, folder, args)


# ---- running -----------------------------------------------------------------------------------

def fill(arg, folder, args):
    return (arg.replace("{dir}", folder).replace("{plugins}", args.plugins)
            .replace("{builtin}", os.environ.get("TEXTGEN_PLUGIN_PATH", "")))


def run(argv, stdin, timeout):
    """(returncode or None on timeout, stdout bytes, stderr bytes, max RSS in MB)."""
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_f, stderr=err_f,
                         start_new_session=True)
    timed_out = []

    def kill():
        timed_out.append(1)
        os.killpg(p.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        p.stdin.write(stdin)
        p.stdin.close()
    except BrokenPipeError:
        pass
    _, status, usage = os.wait4(p.pid, 0)
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    return (None if timed_out else p.returncode, out_f.read(), err_f.read(),
            usage.ru_maxrss / 1024.0)


def judge(case, rc, out, err, rss, args, names):
    """(ok, what happened) for one finished case."""
    err_text = err.decode("utf-8", "replace")
    if rc is None:
        return False, "no answer within %d s (a hang?)" % args.timeout
    for mark in SANITIZER_MARKS:
        if mark in err_text:
            line = next(l for l in err_text.splitlines() if mark in l)
            return False, "sanitizer report: " + line.strip()
    if rc < 0:
        return False, "killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name)
    if case.get("max_rss_mb") and not args.sanitized and rss > case["max_rss_mb"]:
        return False, "peak memory %.0f MB > %d MB" % (rss, case["max_rss_mb"])
    exp = case["expect"]
    if case["kind"] == "cli":
        texts = {"stdout": out.decode("utf-8", "replace"), "stderr": err_text}
        if rc != exp["exit"]:
            return False, "exit %d, wanted %d; stderr: %s" % (rc, exp["exit"], err_text.strip()[:300])
        for stream in ("stdout", "stderr"):
            for s in exp[stream]:
                if s not in texts[stream]:
                    return False, "%r not in %s: %s" % (s, stream, texts[stream].strip()[:300])
        return True, "exit %d" % rc
    if rc != 0:
        return False, "hostile_case exited %d: %s" % (rc, err_text.strip()[:300])
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError as e:
        return False, "the message is not valid UTF-8 (%s): %r" % (e, out[:300])
    m = re.match(r"status (-?\d+)\nmessage (.*)\n\Z", text, re.S)
    if not m:
        return False, "unreadable answer: %r" % text[:300]
    got, msg = int(m.group(1)), m.group(2)
    by_value = {v: k for k, v in names.items()}
    answer = "%s %r" % (by_value.get(got, str(got)), msg)
    if got != names[exp["status"]]:
        return False, "got %s, wanted %s" % (answer, exp["status"])
    for s in exp["message"]:
        if s not in msg:
            return False, "%r not in the message: %s" % (s, answer)
    if got != 0 and not msg:
        return False, "an error without a message"
    return True, answer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case-bin", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--plugins", required=True, help="folder of the hostile test plugins")
    ap.add_argument("--sanitized", action="store_true", help="skip the peak-memory checks")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--show", action="store_true", help="print every case's answer")
    ap.add_argument("names", nargs="*", help="run only these cases")
    args = ap.parse_args()
    names = status_names()
    with open(os.path.join(HERE, "manifest.json")) as f:
        cases = json.load(f)["cases"]
    if args.names:
        cases = [c for c in cases if c["name"] in args.names]
        if not cases:
            print("no such case", file=sys.stderr)
            return 2
    # A case that asks for absurd memory must get NULL from malloc under ASan too, as it would
    # without it, so that the library's own handling is what is tested.
    asan = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "allocator_may_return_null=1"
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    work = tempfile.mkdtemp(prefix="textgen-hostile-", dir=base)
    counts = {"ok": 0, "FAIL": 0, "xfail": 0, "XPASS": 0, "skip": 0}
    failures = []
    start = time.time()
    try:
        for case in cases:
            folder = os.path.join(work, case["name"])
            materialize(case, folder, args)
            if case["kind"] == "cli":
                argv = [args.cli] + [fill(a, folder, args) for a in case["args"]]
                stdin = bytes.fromhex(case["expect"].get("stdin_hex", ""))
            else:
                argv = [args.case_bin]
                for p in case.get("plugins", []):
                    argv += ["--plugin", os.path.join(args.plugins, p + ".so")]
                argv += [case["kind"]] + [fill(a, folder, args) for a in case["args"]]
                stdin = b""
            rc, out, err, rss = run(argv, stdin, args.timeout)
            ok, what = judge(case, rc, out, err, rss, args, names)
            xfail = case.get("xfail")
            tag = ("ok" if ok else "FAIL") if not xfail else ("XPASS" if ok else "xfail")
            if tag == "XPASS" and case.get("max_rss_mb") and args.sanitized:
                tag, what = "skip", what + " (its memory limit is not checked under sanitizers)"
            counts[tag] += 1
            line = "%-5s %s: %s" % (tag, case["name"], what)
            if tag == "XPASS":
                line += "\n      it passes now: remove its xfail in tests/hostile/gen_corpus.py"
            if tag in ("FAIL", "XPASS"):
                failures.append(line)
            if args.show or tag in ("FAIL", "XPASS", "skip"):
                print(line, flush=True)
            elif tag == "xfail":
                print("%-5s %s: %s\n      (known: %s)" % (tag, case["name"], what, xfail), flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n%d cases in %.0f s: %d ok, %d expected failures, %d FAIL, %d XPASS, %d skipped"
          % (len(cases), time.time() - start, counts["ok"], counts["xfail"], counts["FAIL"],
             counts["XPASS"], counts["skip"]))
    for line in failures:
        print(line)
    return 1 if counts["FAIL"] or counts["XPASS"] else 0


if __name__ == "__main__":
    sys.exit(main())
