// Command example is the Go binding's example: a processor written in Go (it bans the letters
// you name) in a chain with built-in stages, streamed from the bundled model; then a beam search.
//
//	go run ./example [PROMPT] [BANNED_LETTERS]   (the model: $TEXTGEN_MODEL, else the bundled one)
package main

import (
	"fmt"
	"os"
	"strings"

	"textgen/textgen"
)

// banLetters drops the candidates whose text is one of the banned letters.
type banLetters struct{ ids map[int32]bool }

func (b *banLetters) Apply(c *textgen.Candidates, _ *textgen.Step) error {
	ids := c.IDs()
	keep := make([]bool, len(ids))
	for i, id := range ids {
		keep[i] = !b.ids[id]
	}
	return c.Keep(keep)
}

// Clone gives every beam of a beam search its own copy (the ids never change: share them).
func (b *banLetters) Clone() (textgen.Processor, error) { return &banLetters{ids: b.ids}, nil }

func main() {
	prompt, letters := "ROMEO:", "e"
	if len(os.Args) > 1 {
		prompt = os.Args[1]
	}
	if len(os.Args) > 2 {
		letters = os.Args[2]
	}
	if err := run(prompt, letters); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run(prompt, letters string) error {
	model, err := textgen.LoadDefault()
	if err != nil {
		return err
	}
	defer model.Close()
	err = textgen.RegisterProcessor(textgen.ProcessorDef{
		Name: "ban_letters", Kind: textgen.Filter, Doc: "drop the given letters (a Go processor)",
		Params: []textgen.Param{{Name: "letters", Type: textgen.ParamString, Default: "e", Doc: "letters dropped"}},
		Create: func(v []textgen.Value, _ int32) (textgen.Processor, error) {
			ids, err := model.Encode(v[0].Text)
			if err != nil {
				return nil, err
			}
			b := &banLetters{ids: map[int32]bool{}}
			for _, id := range ids {
				b.ids[id] = true
			}
			return b, nil
		},
	})
	if err != nil {
		return err
	}
	spec := fmt.Sprintf("ban_letters(letters=%q) repetition_penalty(penalty=1.2) top_k(k=40) temperature(t=0.8) dist", letters)
	fmt.Print(prompt)
	res, err := model.GenerateStream(prompt, &textgen.Options{Samplers: spec, MaxNewTokens: 200, Seed: 42},
		func(text string, _ []int32) bool { fmt.Print(text); return true })
	if err != nil {
		return err
	}
	fmt.Printf("\n[%s, %d tokens]\n", res.StopReason, len(res.Tokens))
	// Beam search with the same Go processor on every beam: the two best of 4 beams.
	beams, err := model.Generate(prompt, &textgen.Options{
		Samplers: fmt.Sprintf("ban_letters(letters=%q) greedy", letters), MaxNewTokens: 40,
		NumBeams: 4, NumReturnSequences: 2, BeamScorers: "length_penalty(alpha=1.2)"})
	if err != nil {
		return err
	}
	banned := strings.ContainsAny(res.Text, letters)
	for i, s := range beams.Sequences {
		fmt.Printf("[beam %d, score %.4f, %s] %q\n", i, s.Score, s.StopReason, s.Text)
		banned = banned || strings.ContainsAny(s.Text, letters)
	}
	if banned {
		return fmt.Errorf("a banned letter came out")
	}
	return nil
}
