#!/usr/bin/env python3
"""The Python binding's example: a processor written in Python (it bans the letters you name)
in a chain with built-in stages, streamed from the bundled model.

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
        banned = set(letters)
        if banned & set(result.text):
            print("a banned letter came out", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except textgen.TextgenError as e:
        print("generate.py: %s" % e, file=sys.stderr)
        sys.exit(1)
