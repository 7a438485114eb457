package textgen

// The Go binding against the bundled model ($TEXTGEN_MODEL): load, tokenizer round trip, greedy
// ids equal to the C library's (examples/greedy.c, $TG_GREEDY_EXE), beam search equal to the C
// library's (bindings/reference/beam_reference.c), streaming equal to the result, errors from 4
// goroutines (each message the failing call's own), a processor written in Go next to built-ins,
// and every handle and processor state released. Run with -race.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const prompt = "ROMEO:\nShall I"

func load(t *testing.T) *Model {
	t.Helper()
	m, err := LoadDefault()
	if err != nil {
		t.Fatalf("loading the bundled model ($TEXTGEN_MODEL): %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestLoad(t *testing.T) {
	m := load(t)
	info, err := m.Info()
	if err != nil || info.NVocab != 65 {
		t.Fatalf("info %+v, %v", info, err)
	}
	if Version() == "" {
		t.Fatal("no version")
	}
	m.Close()
	m.Close() // twice is fine
	if _, err := m.Info(); err == nil {
		t.Fatal("a closed model answers")
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	m := load(t)
	text := "ROMEO: But soft! what light through yonder window breaks?"
	ids, err := m.Encode(text)
	if err != nil || len(ids) != len(text) {
		t.Fatalf("%d ids, %v", len(ids), err)
	}
	back, err := m.Decode(ids)
	if err != nil || back != text {
		t.Fatalf("%q, %v", back, err)
	}
}

func cGreedy(t *testing.T, dir string, ids []int32, n int) []int32 {
	args := []string{dir, strconv.Itoa(n)}
	for _, id := range ids {
		args = append(args, strconv.Itoa(int(id)))
	}
	out, err := exec.Command(os.Getenv("TG_GREEDY_EXE"), args...).Output()
	if err != nil {
		t.Fatalf("examples/greedy ($TG_GREEDY_EXE): %v", err)
	}
	var want []int32
	for _, f := range strings.Fields(string(out)) {
		v, _ := strconv.Atoi(f)
		want = append(want, int32(v))
	}
	return want
}

func TestGreedyEqualsTheCLibrary(t *testing.T) {
	m := load(t)
	r, err := m.Generate(prompt, &Options{Samplers: "greedy", MaxNewTokens: 24, Flags: IgnoreEOS})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := m.Encode(prompt)
	if want := cGreedy(t, m.Path(), ids, 24); !reflect.DeepEqual(r.Tokens, want) {
		t.Fatalf("tokens %v, the C library's %v", r.Tokens, want)
	}
	if !reflect.DeepEqual(r.PromptTokens, ids) || r.StopReason != "max_tokens" {
		t.Fatalf("prompt %v, stop %q", r.PromptTokens, r.StopReason)
	}
}

// cBeams is the C library's beam search (bindings/reference/beam_reference.c,
// $TG_BEAM_REFERENCE_EXE): one Sequence (score, stop reason, ids) per line, best first.
func cBeams(t *testing.T, o *Options) []Sequence {
	args := []string{prompt, strconv.Itoa(int(o.NumBeams)), strconv.Itoa(int(o.NumReturnSequences)),
		strconv.Itoa(int(o.MaxNewTokens)), strconv.Itoa(int(o.EarlyStopping)), o.Samplers,
		o.BeamScorers}
	out, err := exec.Command(os.Getenv("TG_BEAM_REFERENCE_EXE"), args...).Output()
	if err != nil {
		t.Fatalf("beam_reference ($TG_BEAM_REFERENCE_EXE): %v", err)
	}
	var want []Sequence
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		score, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("beam_reference printed %q", line)
		}
		q := Sequence{Score: score, StopReason: f[1]}
		for _, id := range f[2:] {
			v, _ := strconv.Atoi(id)
			q.Tokens = append(q.Tokens, int32(v))
		}
		want = append(want, q)
	}
	return want
}

func TestBeamSearchEqualsTheCLibrary(t *testing.T) {
	m := load(t)
	cases := []*Options{
		{NumBeams: 4, NumReturnSequences: 3, MaxNewTokens: 12, EarlyStopping: EarlyStopNever,
			BeamScorers: "length_penalty(alpha=1.5)", Flags: NoConfig},
		{Samplers: "top_k(k=5) greedy", NumBeams: 4, NumReturnSequences: 4, MaxNewTokens: 10,
			EarlyStopping: EarlyStopTrue, BeamScorers: "diverse_groups(groups=2, penalty=1.0)",
			Flags: NoConfig},
	}
	for _, o := range cases {
		r, err := m.Generate(prompt, o)
		if err != nil {
			t.Fatal(err)
		}
		want := cBeams(t, o)
		if len(want) != int(o.NumReturnSequences) || len(r.Sequences) != len(want) {
			t.Fatalf("%+v: %d sequences, the C library's %d", o, len(r.Sequences), len(want))
		}
		for i, q := range r.Sequences {
			w := want[i]
			if q.Score != w.Score || q.StopReason != w.StopReason || !reflect.DeepEqual(q.Tokens, w.Tokens) {
				t.Fatalf("%+v: sequence %d is %v %s %v, the C library's %v %s %v", o, i, q.Score,
					q.StopReason, q.Tokens, w.Score, w.StopReason, w.Tokens)
			}
			if text, _ := m.Decode(q.Tokens); text != q.Text || len(q.Logprobs) != len(q.Tokens) {
				t.Fatalf("sequence %d: text %q, decoded %q, %d logprobs", i, q.Text, text, len(q.Logprobs))
			}
		}
		if !reflect.DeepEqual(r.Tokens, r.Sequences[0].Tokens) || r.Text != r.Sequences[0].Text {
			t.Fatal("sequence 0 is not the best")
		}
		if reflect.DeepEqual(r.Sequences[0].Tokens, r.Sequences[1].Tokens) {
			t.Fatal("two sequences are the same")
		}
		want1 := map[string]string{"length_penalty(alpha=1.5)": "length_penalty(alpha=1.5)",
			"diverse_groups(groups=2, penalty=1.0)": "diverse_groups(groups=2, penalty=1) length_penalty(alpha=1)"}[o.BeamScorers]
		if r.NumBeams != 4 || r.BeamScorers != want1 {
			t.Fatalf("the result says %d beams, scorers %q", r.NumBeams, r.BeamScorers)
		}
	}
	one, err := m.Generate(prompt, &Options{MaxNewTokens: 3, Flags: NoConfig})
	if err != nil || one.NumBeams != 1 || one.BeamScorers != "" {
		t.Fatalf("one sequence: %v, %d beams, scorers %q", err, one.NumBeams, one.BeamScorers)
	}
}

func TestBeamSearchStreamsTheBestSequence(t *testing.T) {
	m := load(t)
	o := &Options{NumBeams: 3, NumReturnSequences: 2, MaxNewTokens: 20, Flags: NoConfig}
	var text strings.Builder
	var ids []int32
	r, err := m.GenerateStream(prompt, o, func(s string, i []int32) bool {
		text.WriteString(s)
		ids = append(ids, i...)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != r.Text || !reflect.DeepEqual(ids, r.Tokens) {
		t.Fatalf("streamed %q / %v, result %q / %v", text.String(), ids, r.Text, r.Tokens)
	}
	g, err := m.NewGenerator(prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var chunks strings.Builder
	for {
		s, done, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		chunks.WriteString(s)
		if done {
			break
		}
	}
	if chunks.String() != r.Text || !reflect.DeepEqual(g.Result().Sequences, r.Sequences) {
		t.Fatalf("generator %q %v, generate %q %v", chunks.String(), g.Result().Sequences, r.Text,
			r.Sequences)
	}
	_, err = m.Generate(prompt, &Options{NumBeams: 2, NumReturnSequences: 3})
	var e *Error
	if !errors.As(err, &e) || e.Status != ERANGE ||
		!strings.Contains(e.Message, "num_return_sequences = 3 is more than num_beams = 2") {
		t.Fatalf("got %v", err)
	}
}

func TestStreamingEqualsTheResult(t *testing.T) {
	m := load(t)
	o := &Options{Samplers: "top_k(k=20) temperature(t=0.9) dist", MaxNewTokens: 40, Seed: 7}
	var text strings.Builder
	var ids []int32
	r, err := m.GenerateStream(prompt, o, func(s string, i []int32) bool {
		text.WriteString(s)
		ids = append(ids, i...)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != r.Text || !reflect.DeepEqual(ids, r.Tokens) || len(r.Tokens) != 40 {
		t.Fatalf("streamed %q / %v, result %q / %v", text.String(), ids, r.Text, r.Tokens)
	}
	g, err := m.NewGenerator(prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var chunks strings.Builder
	for {
		s, done, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		chunks.WriteString(s)
		if done {
			break
		}
	}
	if chunks.String() != g.Result().Text || !reflect.DeepEqual(g.Result().Tokens, r.Tokens) {
		t.Fatalf("generator %q, generate %q", chunks.String(), r.Text)
	}
}

func TestCallbackStopsOrPanics(t *testing.T) {
	m := load(t)
	o := &Options{Samplers: "greedy", MaxNewTokens: 50}
	calls := 0
	r, err := m.GenerateStream(prompt, o, func(string, []int32) bool { calls++; return calls < 5 })
	if err != nil || r.StopReason != "callback" || len(r.Tokens) != 5 {
		t.Fatalf("%v %+v", err, r)
	}
	defer func() {
		if p := recover(); p != "boom from the callback" {
			t.Fatalf("recovered %v", p)
		}
	}()
	m.GenerateStream(prompt, o, func(string, []int32) bool { panic("boom from the callback") })
	t.Fatal("the panic did not come back")
}

func TestErrorsUnderConcurrency(t *testing.T) {
	m := load(t)
	var wg sync.WaitGroup
	wrong := make(chan string, 400)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			mine := fmt.Sprintf("nope_%d", g)
			if g%2 == 1 {
				mine = fmt.Sprintf("/no/such/folder-%d", g)
			}
			for k := 0; k < 100; k++ {
				var err error
				want := ESPEC
				if g%2 == 1 {
					_, err = Load(mine)
					want = ENOTFOUND
				} else {
					_, err = ParseChain(mine+" greedy", m, 0, 0)
				}
				var e *Error
				if !errors.As(err, &e) || e.Status != want || !strings.Contains(e.Message, mine) {
					wrong <- fmt.Sprintf("goroutine %d: %v", g, err)
				}
				runtime.Gosched() // invite the scheduler to move us to another thread
			}
		}(g)
	}
	wg.Wait()
	close(wrong)
	for w := range wrong {
		t.Error(w)
	}
	_, err := ParseChain("top_p(p=2) greedy", nil, 10, 0)
	var e *Error
	if !errors.As(err, &e) || StatusName(e.Status) != "TG_ESPEC: invalid sampler specification" ||
		!strings.Contains(e.Message, "top_p(p=...): ") {
		t.Fatalf("%v", err)
	}
}

type banID struct{ banned int32 }

func (b *banID) Apply(c *Candidates, _ *Step) error {
	ids := c.IDs()
	keep := make([]bool, len(ids))
	for i, id := range ids {
		keep[i] = id != b.banned
	}
	return c.Keep(keep)
}

func (b *banID) Clone() (Processor, error) { return &banID{b.banned}, nil }

var registerOnce sync.Once

func TestGoProcessorInAChain(t *testing.T) {
	registerOnce.Do(func() {
		err := RegisterProcessor(ProcessorDef{
			Name: "go_ban_id", Kind: Filter, Doc: "drop one id (Go)",
			Params: []Param{{Name: "id", Type: ParamInt, Default: "0", Min: 0, Max: 1e9, Doc: "the id dropped"}},
			Create: func(v []Value, nVocab int32) (Processor, error) {
				if v[0].Int >= int64(nVocab) {
					return nil, fmt.Errorf("id %d is outside the vocabulary", v[0].Int)
				}
				return &banID{int32(v[0].Int)}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	m := load(t)
	e, _ := m.Encode("e")
	o := &Options{Samplers: fmt.Sprintf("go_ban_id(id=%d) top_k(k=10) temperature(t=1.2) dist", e[0]),
		MaxNewTokens: 120, Seed: 3}
	r, err := m.Generate(prompt, o)
	if err != nil || len(r.Tokens) != 120 {
		t.Fatalf("%v", err)
	}
	for _, id := range r.Tokens {
		if id == e[0] {
			t.Fatal("a banned id came out")
		}
	}
	o.Samplers = "top_k(k=10) temperature(t=1.2) dist"
	plain, _ := m.Generate(prompt, o)
	found := false
	for _, id := range plain.Tokens {
		found = found || id == e[0]
	}
	if !found {
		t.Fatal("without the processor 'e' should occur")
	}
	c, err := ParseChain("go_ban_id(id=3) greedy", m, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Spec(); s != "go_ban_id(id=3) greedy" {
		t.Fatalf("spec %q", s)
	}
	d, err := c.Clone()
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, 65)
	logits[3], logits[9] = 5, 4
	if tok, err := d.Sample(logits); err != nil || tok != 9 {
		t.Fatalf("%d %v", tok, err)
	}
	c.Close()
	d.Close()
	_, err = ParseChain("go_ban_id(id=999) greedy", m, 0, 0)
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != ESPEC ||
		!strings.Contains(perr.Message, "go_ban_id: id 999 is outside the vocabulary") {
		t.Fatalf("%v", err)
	}
	err = RegisterProcessor(ProcessorDef{Name: "go_ban_id", Kind: Filter, Doc: "again",
		Create: func([]Value, int32) (Processor, error) { return nil, nil }})
	if !errors.As(err, &perr) || perr.Status != EEXISTS {
		t.Fatalf("%v", err)
	}
	if n := LiveProcessorStates(); n != 0 {
		t.Fatalf("%d Go processor states were never destroyed", n)
	}
}

func TestEveryHandleIsReleased(t *testing.T) {
	m, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseChain("greedy", m, 0, 0)
	g, _ := m.NewGenerator(prompt, &Options{Samplers: "greedy", MaxNewTokens: 2})
	var e *Error
	if err := m.Close(); !errors.As(err, &e) || e.Status != ESTATE ||
		!strings.Contains(e.Message, "2 open chains or generators") {
		t.Fatalf("closing a model in use: %v", err)
	}
	c.Close()
	g.Close()
	g.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// other tests run before, not alongside (no t.Parallel): nothing of theirs is left either
	if live := LiveHandles(); len(live) != 0 {
		t.Fatalf("still held: %v", live)
	}
}
