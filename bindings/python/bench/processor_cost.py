#!/usr/bin/env python3
"""What a processor written in Python costs per token, inside a C sampler chain.

For a vocabulary of 65 (the bundled model) and 50257 (GPT-2) ids, times tg_chain_sample +
tg_chain_accept over random logits with three chains — "greedy" (the baseline), "py_noop greedy"
(a Python stage that does nothing: the price of crossing into Python) and "py_ban greedy" (a
Python stage that reads every live id and drops one with Candidates.keep) — and prints the cost
per token above the baseline. A benchmark, never a test (docs/bindings.md has the figures).

    PYTHONPATH=bindings/python TEXTGEN_LIBRARY=build/lib/libtextgen.so.0 \\
    TEXTGEN_PLUGIN_PATH=build/plugins python3 bindings/python/bench/processor_cost.py
"""
import array
import random
import sys
import time

import textgen


class Noop(textgen.Processor):
    def apply(self, cands, step):
        pass


class Ban(textgen.Processor):
    def apply(self, cands, step):
        cands.keep([i != 7 for i in cands.ids])


def per_token(spec, n_vocab, logits, steps):
    with textgen.Chain(spec, n_vocab=n_vocab) as chain:
        t0 = time.perf_counter()
        for k in range(steps):
            chain.accept(chain.sample(logits[k % len(logits)]))
        return (time.perf_counter() - t0) / steps


def main():
    textgen.register_processors("py_bench", [
        textgen.ProcessorDef("py_noop", lambda v, n: Noop()),
        textgen.ProcessorDef("py_ban", lambda v, n: Ban(), kind=textgen.FILTER)])
    rng = random.Random(1)
    print("python %s, libtextgen %s" % (sys.version.split()[0], textgen.version()))
    for n_vocab, steps in ((65, 4000), (50257, 200)):
        logits = [array.array("f", [rng.gauss(0, 3) for _ in range(n_vocab)]) for _ in range(4)]
        base = per_token("greedy", n_vocab, logits, steps)
        for spec in ("py_noop greedy", "py_ban greedy"):
            t = per_token(spec, n_vocab, logits, steps)
            print("n_vocab %6d  %-16s %9.1f us/token (+%.1f us over greedy's %.1f)"
                  % (n_vocab, spec, t * 1e6, (t - base) * 1e6, base * 1e6))


if __name__ == "__main__":
    main()
