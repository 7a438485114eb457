#!/usr/bin/env python3
"""The Python binding's example: a processor written in Python (it bans the letters you name)
in a chain with built-in stages, streamed from the bundled model; then a beam search with it.

    generate.py [PROMPT] [BANNED_LETTERS]      (the model: $TEXTGEN_MODEL, else the bundled one)

Run from a checkout with PYTHONPATH=bindings/python, or with the package installed.
"""
import sys

import textgen


class BanLetters(textgen.Processor):
    """Drops the candidates whose text is one of the banned letters."""

    def __init__(self, ids):
        self.ids = set(ids)

    def apply(self, cands, step):
        cands.keep([i not in self.ids for i in cands.ids])

    def clone(self):  # beam search gives every beam its own copy of the chain
        return BanLetters(self.ids)


def main():
    prompt = sys.argv[1] if len(sys.argv) > 1 else "ROMEO:"
    letters = sys.argv[2] if len(sys.argv) > 2 else "e"
    with textgen.Model() as model:
        tok = model.tokenizer
        textgen.register_processors("example_py", [textgen.ProcessorDef(
            "ban_letters", lambda values, n_vocab: BanLetters(tok.encode(values["letters"])),
            kind=textgen.FILTER, doc="drop the given letters (a Python processor)",
            params=[textgen.Param("letters", textgen.PARAM_STRING, "e", doc="letters dropped")])])
        spec = ('ban_letters(letters="%s") repetition_penalty(penalty=1.2) top_k(k=40) '
                'temperature(t=0.8) dist' % letters)
        print(prompt, end="")
        with model.stream(prompt, samplers=spec, max_new_tokens=200, seed=42) as chunks:
            for chunk in chunks:
                print(chunk, end="", flush=True)
        result = chunks.result
        print("\n[%s, %d tokens]" % (result.stop_reason, len(result.tokens)))
        # Beam search with the same Python processor on every beam: the two best of 4 beams.
        beams = model.generate(prompt, samplers='ban_letters(letters="%s") greedy' % letters,
                               max_new_tokens=40, num_beams=4, num_return_sequences=2,
                               beam_scorers="length_penalty(alpha=1.2)")
        for i, seq in enumerate(beams.sequences):
            print("[beam %d, score %.4f, %s] %r" % (i, seq.score, seq.stop_reason, seq.text))
        banned = set(letters)
        if any(banned & set(text) for text in [result.text] + [q.text for q in beams.sequences]):
            print("a banned letter came out", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except textgen.TextgenError as e:
        print("generate.py: %s" % e, file=sys.stderr)
        sys.exit(1)
