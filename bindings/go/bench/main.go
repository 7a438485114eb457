// Command bench measures what a processor written in Go costs per token inside a sampler chain:
// Sample + Accept over random logits for "greedy", "go_noop greedy" and "go_ban greedy" (reads
// every live id, drops one), n_vocab 65 and 50257. A benchmark, never a test.
//
//	go run ./bench
package main

import (
	"fmt"
	"math/rand"
	"time"

	"textgen/textgen"
)

type noop struct{}

func (noop) Apply(*textgen.Candidates, *textgen.Step) error { return nil }

type ban struct{}

func (ban) Apply(c *textgen.Candidates, _ *textgen.Step) error {
	ids := c.IDs()
	keep := make([]bool, len(ids))
	for i, id := range ids {
		keep[i] = id != 7
	}
	return c.Keep(keep)
}

func perToken(spec string, nVocab int, logits [][]float32, steps int) float64 {
	c, err := textgen.ParseChain(spec, nil, nVocab, 0)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	t0 := time.Now()
	for k := 0; k < steps; k++ {
		tok, err := c.Sample(logits[k%len(logits)])
		if err != nil {
			panic(err)
		}
		if err := c.Accept(tok); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(t0).Microseconds()) / float64(steps)
}

func main() {
	for _, d := range []textgen.ProcessorDef{
		{Name: "go_noop", Kind: textgen.Transform, Doc: "benchmark",
			Create: func([]textgen.Value, int32) (textgen.Processor, error) { return noop{}, nil }},
		{Name: "go_ban", Kind: textgen.Filter, Doc: "benchmark",
			Create: func([]textgen.Value, int32) (textgen.Processor, error) { return ban{}, nil }},
	} {
		if err := textgen.RegisterProcessor(d); err != nil {
			panic(err)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct{ nVocab, steps int }{{65, 20000}, {50257, 2000}} {
		logits := make([][]float32, 4)
		for i := range logits {
			logits[i] = make([]float32, c.nVocab)
			for j := range logits[i] {
				logits[i][j] = float32(rng.NormFloat64() * 3)
			}
		}
		base := perToken("greedy", c.nVocab, logits, c.steps)
		for _, spec := range []string{"go_noop greedy", "go_ban greedy"} {
			t := perToken(spec, c.nVocab, logits, c.steps)
			fmt.Printf("n_vocab %6d  %-16s %9.2f us/token (+%.2f us over greedy's %.2f)\n",
				c.nVocab, spec, t, t-base, base)
		}
	}
}
