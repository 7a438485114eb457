"""The Python binding against the bundled model ($TEXTGEN_MODEL) and the build tree's library
($TEXTGEN_LIBRARY): load, tokenizer round trip, greedy ids equal to the C library's
(examples/greedy.c, $TG_GREEDY_EXE), beam search equal to the C library's
(bindings/reference/beam_reference.c), streaming equal to the result, errors under 4 threads,
the GIL released while generating, a processor written in Python in a chain next to built-ins,
and every library handle freed (the module counts them)."""

import ctypes
import gc
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.dont_write_bytecode = True

import textgen  # noqa: E402

PROMPT = "ROMEO:\nShall I"


def c_greedy(model_dir, ids, n):
    """Token ids the C library picks greedily (raw session argmax, examples/greedy.c)."""
    out = subprocess.run([os.environ["TG_GREEDY_EXE"], model_dir, str(n)] + [str(i) for i in ids],
                         capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.split()]


def c_beams(prompt, beams, n_return, max_new, early_stopping, samplers="", scorers=""):
    """The C library's beam search (bindings/reference/beam_reference.c): per sequence, best
    first, (score, stop reason, ids)."""
    out = subprocess.run([os.environ["TG_BEAM_REFERENCE_EXE"], prompt, str(beams), str(n_return),
                          str(max_new), str(early_stopping), samplers, scorers],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    return [(float(r[0]), r[1], [int(x) for x in r[2:]]) for r in rows]


class BindingTest(unittest.TestCase):
    def tearDown(self):
        gc.collect()
        self.assertEqual(textgen.live_handles(), {}, "every library object is freed")

    def test_load(self):
        with textgen.Model() as m:
            self.assertEqual(m.info["n_vocab"], 65)
            self.assertEqual(os.path.realpath(m.path),
                             os.path.realpath(os.environ["TEXTGEN_MODEL"]))
            self.assertEqual(textgen.live_handles(), {"model": 1})
        with self.assertRaises(ValueError):
            m.info  # closed

    def test_closing_a_model_closes_what_was_made_from_it(self):
        m = textgen.Model()
        s = m.stream(PROMPT, samplers="greedy", max_new_tokens=5)
        c = textgen.Chain("greedy", model=m)
        self.assertEqual(textgen.live_handles(), {"model": 1, "generator": 1, "chain": 1})
        m.close()
        self.assertEqual(textgen.live_handles(), {})
        with self.assertRaises(ValueError):
            c.sample([0.0] * 65)
        with self.assertRaises(ValueError):
            list(s)

    def test_weight_and_kv_types(self):
        path = os.environ["TEXTGEN_MODEL"]
        for w, kv, want in ((textgen.WEIGHTS_F32, textgen.KV_AUTO, textgen.KV_F32),
                            (textgen.WEIGHTS_BF16, textgen.KV_AUTO, textgen.KV_BF16),
                            (textgen.WEIGHTS_F32, textgen.KV_BF16, textgen.KV_BF16),
                            (textgen.WEIGHTS_INT8, textgen.KV_AUTO, textgen.KV_BF16),
                            (textgen.WEIGHTS_INT8, textgen.KV_F32, textgen.KV_F32)):
            with textgen.Model(path, weight_type=w, kv_type=kv) as m:
                self.assertEqual((m.info["weight_type"], m.info["kv_type"]), (w, want))
        with self.assertRaises(textgen.TextgenError) as e:
            textgen.Model(path, kv_type=7)
        self.assertIn("kv_type 7 is not one of", str(e.exception))

    def test_tokenizer_round_trip(self):
        with textgen.Model() as m:
            tok = m.tokenizer
            text = "ROMEO: But soft! what light through yonder window breaks?"
            ids = tok.encode(text)
            self.assertEqual(len(ids), len(text))
            self.assertEqual(tok.decode(ids), text)

    def test_greedy_equals_the_c_library(self):
        with textgen.Model() as m:
            r = m.generate(PROMPT, samplers="greedy", max_new_tokens=24,
                           flags=textgen.GEN_IGNORE_EOS)
            want = c_greedy(m.path, m.tokenizer.encode(PROMPT), 24)
            self.assertEqual(r.tokens, want)
            self.assertEqual(r.text, m.tokenizer.decode(want))
            self.assertEqual(r.stop_reason, "max_tokens")

    def test_streaming_equals_the_result(self):
        with textgen.Model() as m:
            kw = dict(samplers="top_k(k=20) temperature(t=0.9) dist", max_new_tokens=40, seed=7)
            with m.stream(PROMPT, **kw) as s:
                chunks = list(s)
            self.assertEqual("".join(chunks), s.result.text)
            self.assertEqual(len(s.result.tokens), 40)
            pieces, ids = [], []
            r = m.generate(PROMPT, on_text=lambda t, i: pieces.append(t) or ids.extend(i), **kw)
            self.assertEqual("".join(pieces), r.text)
            self.assertEqual(ids, r.tokens)
            self.assertEqual(r.tokens, s.result.tokens, "same seed, same tokens")

    def test_beam_search_equals_the_c_library(self):
        cases = [dict(num_beams=4, num_return_sequences=3, max_new_tokens=12,
                      early_stopping=textgen.EARLY_STOP_NEVER,
                      beam_scorers="length_penalty(alpha=1.5)"),
                 dict(num_beams=4, num_return_sequences=4, max_new_tokens=10,
                      early_stopping=textgen.EARLY_STOP_TRUE, samplers="top_k(k=5) greedy",
                      beam_scorers="diverse_groups(groups=2, penalty=1.0)")]
        with textgen.Model() as m:
            for kw in cases:
                r = m.generate(PROMPT, flags=textgen.GEN_NO_CONFIG, **kw)
                want = c_beams(PROMPT, kw["num_beams"], kw["num_return_sequences"],
                               kw["max_new_tokens"], kw["early_stopping"],
                               kw.get("samplers", ""), kw["beam_scorers"])
                self.assertEqual(len(want), kw["num_return_sequences"])
                got = [(q.score, q.stop_reason, q.tokens) for q in r.sequences]
                self.assertEqual(got, want, kw)
                self.assertEqual(r.tokens, r.sequences[0].tokens, "sequence 0 is the best")
                self.assertEqual(r.text, r.sequences[0].text)
                for q in r.sequences:
                    self.assertEqual(q.text, m.tokenizer.decode(q.tokens))
                    self.assertEqual(len(q.logprobs), len(q.tokens))
                self.assertNotEqual(r.sequences[0].tokens, r.sequences[1].tokens)
                self.assertEqual(r.num_beams, 4)
                printed = {"length_penalty(alpha=1.5)": "length_penalty(alpha=1.5)",
                           "diverse_groups(groups=2, penalty=1.0)":
                           "diverse_groups(groups=2, penalty=1) length_penalty(alpha=1)"}
                self.assertEqual(r.beam_scorers, printed[kw["beam_scorers"]])
            one = m.generate(PROMPT, flags=textgen.GEN_NO_CONFIG, max_new_tokens=3)
            self.assertEqual((one.num_beams, one.beam_scorers), (1, None))

    def test_beam_search_streams_the_best_sequence(self):
        with textgen.Model() as m:
            kw = dict(num_beams=3, num_return_sequences=2, max_new_tokens=20,
                      flags=textgen.GEN_NO_CONFIG)
            pieces, ids = [], []
            r = m.generate(PROMPT, on_text=lambda t, i: pieces.append(t) or ids.extend(i), **kw)
            self.assertEqual("".join(pieces), r.text)
            self.assertEqual(ids, r.tokens)
            with m.stream(PROMPT, **kw) as s:
                chunks = list(s)
            self.assertEqual("".join(chunks), r.text)
            self.assertEqual([q.tokens for q in s.result.sequences],
                             [q.tokens for q in r.sequences])
            with self.assertRaises(textgen.TextgenError) as e:
                m.generate(PROMPT, num_beams=2, num_return_sequences=3)
            self.assertEqual(e.exception.status, -8)  # TG_ERANGE
            self.assertIn("num_return_sequences = 3 is more than num_beams = 2", str(e.exception))

    @unittest.skipUnless(ctypes.sizeof(ctypes.c_void_p) == 8, "the sizes are x86_64's")
    def test_struct_mirrors_match_the_c_headers(self):
        # tests/abi/test_layout.c's sizes: a mismatch means _lib.py drifted from the headers
        from textgen import _lib
        self.assertEqual(ctypes.sizeof(_lib.GenerateOptions), 144)
        self.assertEqual(_lib.GenerateOptions.num_beams.offset, 96)
        self.assertEqual(ctypes.sizeof(_lib.ProcessorVtable), 160)
        self.assertEqual(_lib.ProcessorVtable.scorer.offset, 152)

    def test_callback_stops_or_raises(self):
        with textgen.Model() as m:
            calls = []
            r = m.generate(PROMPT, samplers="greedy", max_new_tokens=50,
                           on_text=lambda t, i: calls.append(t) or len(calls) < 5)
            self.assertEqual(r.stop_reason, "callback")
            self.assertEqual(len(r.tokens), 5)

            def boom(text, ids):
                raise KeyError("boom from the callback")
            with self.assertRaises(KeyError):
                m.generate(PROMPT, samplers="greedy", max_new_tokens=50, on_text=boom)

    def test_errors_under_concurrency(self):
        with textgen.Model() as m:
            wrong = []

            def worker(t):
                mine = "/no/such/folder-%d" % t if t % 2 else "nope_%d" % t
                for _ in range(50):
                    try:
                        if t % 2:
                            textgen.Model(mine)
                        else:
                            textgen.Chain(mine + " greedy", model=m)
                        wrong.append("no error")
                    except textgen.TextgenError as e:
                        want = -7 if t % 2 else -15  # TG_ENOTFOUND, TG_ESPEC
                        if mine not in e.message or e.status != want:
                            wrong.append("%d: %s" % (t, e))
            threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            self.assertEqual(wrong, [])
        with self.assertRaises(textgen.TextgenError) as cm:
            textgen.Chain("top_p(p=2) greedy", n_vocab=10)
        self.assertEqual(cm.exception.status_name, "TG_ESPEC: invalid sampler specification")
        self.assertIn("top_p(p=...): ", cm.exception.message)

    def test_gil_is_released_while_generating(self):
        # ctypes releases the GIL around a foreign call unless the function carries
        # FUNCFLAG_PYTHONAPI (PyDLL); every entry point used must be a plain CDLL function.
        import ctypes
        self.assertNotIsInstance(textgen._lib.lib, ctypes.PyDLL)
        for name in ("tg_generate", "tg_generator_next", "tg_chain_sample", "tg_model_load"):
            fn = getattr(textgen._lib.lib, name)
            self.assertEqual(fn._flags_ & ctypes._FUNCFLAG_PYTHONAPI, 0, name)
        # and generations in 4 threads at once give what one gives alone
        with textgen.Model() as m:
            kw = dict(samplers="top_k(k=20) dist", max_new_tokens=60)
            alone = [m.generate(PROMPT, seed=t, **kw).tokens for t in range(4)]
            together = [None] * 4

            def worker(t):
                together[t] = m.generate(PROMPT, seed=t, **kw).tokens
            threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            self.assertEqual(together, alone)

    def test_python_processor_in_a_chain(self):
        class BanId(textgen.Processor):
            def __init__(self, banned):
                self.banned = banned
                self.seen = 0

            def apply(self, cands, step):
                ids = cands.ids
                cands.keep([i != self.banned for i in ids])

            def accept(self, token, step):
                self.seen += 1

        created = []

        def create(values, n_vocab):
            if values["id"] >= n_vocab:
                raise ValueError("id %d is outside the vocabulary" % values["id"])
            created.append(values["id"])
            return BanId(values["id"])

        if "py_ban_id" not in textgen_registered:
            textgen.register_processors("py_test", [textgen.ProcessorDef(
                "py_ban_id", create, kind=textgen.FILTER, doc="drop one id (Python)",
                params=[textgen.Param("id", textgen.PARAM_INT, "0", 0, 1e9, "the id dropped")])])
            textgen_registered.add("py_ban_id")
        with textgen.Model() as m:
            e = m.tokenizer.encode("e")[0]
            r = m.generate(PROMPT, samplers="py_ban_id(id=%d) top_k(k=10) temperature(t=1.2) "
                           "dist" % e, max_new_tokens=120, seed=3)
            self.assertEqual(created[-1], e)
            self.assertEqual(len(r.tokens), 120)
            self.assertNotIn(e, r.tokens)
            plain = m.generate(PROMPT, samplers="top_k(k=10) temperature(t=1.2) dist",
                               max_new_tokens=120, seed=3)
            self.assertIn(e, plain.tokens)
            with self.assertRaises(textgen.TextgenError) as cm:
                textgen.Chain("py_ban_id(id=999) greedy", model=m)
            self.assertIn("py_ban_id: ValueError: id 999 is outside the vocabulary",
                          cm.exception.message)
            with textgen.Chain("py_ban_id(id=3) greedy", model=m) as c:
                self.assertEqual(c.spec, "py_ban_id(id=3) greedy")
                logits = [0.0] * 65
                logits[3], logits[9] = 5.0, 4.0
                self.assertEqual(c.sample(logits), 9)
        with self.assertRaises(textgen.TextgenError) as cm:
            textgen.register_processors("py_test2", [textgen.ProcessorDef("py_ban_id", create)])
        self.assertEqual(cm.exception.status, -12)  # TG_EEXISTS


textgen_registered = set()

if __name__ == "__main__":
    unittest.main(verbosity=2)
