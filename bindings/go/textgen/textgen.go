// Package textgen is the Go binding of libtextgen (docs/bindings.md).
//
//	m, err := textgen.LoadDefault() // $TEXTGEN_MODEL, else the bundled model
//	if err != nil { ... }
//	defer m.Close()
//	res, err := m.GenerateStream("ROMEO:", &textgen.Options{Samplers: "top_k(k=40) dist", Seed: 1},
//		func(text string, ids []int32) bool { fmt.Print(text); return true })
//
// Errors are *Error values (status and message); the message is copied inside the same cgo call
// as the failure, so it is the failing call's own even though goroutines move between threads.
// A *Model may be shared by any number of goroutines; a *Chain or *Generator belongs to one at a
// time. Close releases a handle (a finalizer does it for a handle that was dropped).
package textgen

/*
#cgo pkg-config: textgen
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Status codes of libtextgen (TG_E*).
const (
	OK          = 0
	EINVAL      = -2
	ENOTFOUND   = -7
	ERANGE      = -8
	EPLUGIN     = -11
	EEXISTS     = -12
	EUSER       = -14
	ESPEC       = -15
	EUNSUPPORTD = -6
	ESTATE      = -10
)

// Generation flags (TG_GEN_*).
const (
	IgnoreEOS    = 1
	AllowSpecial = 2
	NoConfig     = 4
)

// Error is a failed libtextgen call.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s)", e.Message, StatusName(e.Status))
}

// StatusName is "TG_EINVAL: invalid argument" and the like.
func StatusName(status int) string {
	return C.GoString(C.tg_status_str(C.tg_status(status)))
}

// errOf turns a wrapper's status and its malloc'ed message into an error (nil for TG_OK).
func errOf(st C.tg_status, msg *C.char) error {
	if st == C.TG_OK {
		return nil
	}
	text := StatusName(int(st))
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return &Error{Status: int(st), Message: text}
}

// Version of the loaded library.
func Version() string {
	return C.GoString(C.tg_version_string())
}

// ---- handle accounting: tests prove every library object is released ----

var live = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func track(kind string, delta int) {
	live.Lock()
	live.n[kind] += delta
	if live.n[kind] == 0 {
		delete(live.n, kind)
	}
	live.Unlock()
}

// LiveHandles counts the library objects this package holds, by kind.
func LiveHandles() map[string]int {
	live.Lock()
	defer live.Unlock()
	out := map[string]int{}
	for k, v := range live.n {
		out[k] = v
	}
	return out
}

// ---- model ----

// Model is a loaded model: immutable, safe for concurrent use.
type Model struct {
	mu   sync.RWMutex // Close waits for calls in flight
	p    *C.tg_model
	deps int64 // open chains and generators made from it
}

func newModel(p *C.tg_model) *Model {
	m := &Model{p: p}
	track("model", 1)
	runtime.SetFinalizer(m, (*Model).Close)
	return m
}

// Load loads a model folder.
func Load(dir string) (*Model, error) {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var p *C.tg_model
	var msg *C.char
	if err := errOf(C.tgo_model_load(&p, cdir, &msg), msg); err != nil {
		return nil, err
	}
	return newModel(p), nil
}

// LoadDefault loads $TEXTGEN_MODEL, else the bundled model installed with the library.
func LoadDefault() (*Model, error) {
	var p *C.tg_model
	var msg *C.char
	if err := errOf(C.tgo_model_load_default(&p, &msg), msg); err != nil {
		return nil, err
	}
	return newModel(p), nil
}

// Close releases the model; calling it again does nothing. It refuses (ESTATE) while chains or
// generators made from it are open: close them first.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := atomic.LoadInt64(&m.deps); n > 0 && m.p != nil {
		return &Error{Status: ESTATE, Message: fmt.Sprintf("the model still has %d open chains or generators: close them first", n)}
	}
	if m.p != nil {
		C.tg_model_free(m.p)
		m.p = nil
		track("model", -1)
		runtime.SetFinalizer(m, nil)
	}
	return nil
}

func (m *Model) get() (*C.tg_model, error) {
	if m.p == nil {
		return nil, &Error{Status: EINVAL, Message: "the model is closed"}
	}
	return m.p, nil
}

// Info describes the model.
type Info struct {
	NVocab, NCtx, NLayer, NHead, NEmbd int
	BosID, EosID                       int32
	NParams                            uint64
}

// Info returns the model's sizes.
func (m *Model) Info() (Info, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, err := m.get()
	if err != nil {
		return Info{}, err
	}
	var i C.tg_model_info
	var msg *C.char
	if err := errOf(C.tgo_model_info(&i, p, &msg), msg); err != nil {
		return Info{}, err
	}
	return Info{int(i.n_vocab), int(i.n_ctx), int(i.n_layer), int(i.n_head), int(i.n_embd),
		int32(i.bos_id), int32(i.eos_id), uint64(i.n_params)}, nil
}

// Path is the folder the model was loaded from.
func (m *Model) Path() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return ""
	}
	return C.GoString(C.tg_model_path(m.p))
}

// Encode turns text into the model tokenizer's ids.
func (m *Model) Encode(text string) ([]int32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, err := m.get()
	if err != nil {
		return nil, err
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	var ids *C.int32_t
	var n C.size_t
	var msg *C.char
	if err := errOf(C.tgo_encode(&ids, &n, C.tg_model_tokenizer(p), ctext, C.size_t(len(text)), &msg), msg); err != nil {
		return nil, err
	}
	defer C.tg_free(unsafe.Pointer(ids))
	return copyIDs(ids, n), nil
}

// Decode turns ids into text.
func (m *Model) Decode(ids []int32) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, err := m.get()
	if err != nil {
		return "", err
	}
	var cids *C.int32_t
	if len(ids) > 0 {
		cids = (*C.int32_t)(unsafe.Pointer(&ids[0]))
	}
	var text *C.char
	var n C.size_t
	var msg *C.char
	if err := errOf(C.tgo_decode(&text, &n, C.tg_model_tokenizer(p), cids, C.size_t(len(ids)), &msg), msg); err != nil {
		return "", err
	}
	defer C.tg_free(unsafe.Pointer(text))
	return C.GoStringN(text, C.int(n)), nil
}

func copyIDs(ids *C.int32_t, n C.size_t) []int32 {
	if n == 0 || ids == nil {
		return []int32{}
	}
	return append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(ids)), int(n))...)
}

// ---- generation ----

// Options of a generation; the zero value is the library's defaults.
type Options struct {
	Samplers     string // chain spec; "": generation_config.json, else greedy
	MaxNewTokens int32  // 0: the model's default (else 128); -1: until the context is full
	StopStrings  []string
	StopTokens   []int32
	MaxTimeS     float64
	Seed         uint64
	NThreads     int32
	Flags        uint32 // IgnoreEOS, AllowSpecial, NoConfig
	// Beam search: NumBeams B > 1 searches with B beams and returns the best
	// NumReturnSequences (1..B; 0 = 1) in Result.Sequences, best first.
	NumBeams           int32
	NumReturnSequences int32
	EarlyStopping      int32  // EarlyStopDefault, EarlyStopFalse, EarlyStopTrue, EarlyStopNever
	BeamScorers        string // e.g. "length_penalty(alpha=2)"; "": length_penalty(alpha=1)
}

// Early-stopping rules of beam search (TG_EARLY_STOP_*: Hugging Face's False, True, "never").
const (
	EarlyStopDefault = 0
	EarlyStopFalse   = 1
	EarlyStopTrue    = 2
	EarlyStopNever   = 3
)

func (o *Options) c() *C.tgo_options {
	if o == nil {
		o = &Options{}
	}
	var samplers *C.char
	if o.Samplers != "" {
		samplers = C.CString(o.Samplers)
		defer C.free(unsafe.Pointer(samplers))
	}
	co := C.tgo_options_new(samplers, C.int32_t(o.MaxNewTokens), C.size_t(len(o.StopStrings)),
		C.size_t(len(o.StopTokens)), C.double(o.MaxTimeS), C.uint64_t(o.Seed),
		C.int32_t(o.NThreads), C.uint32_t(o.Flags))
	if co == nil {
		panic("textgen: out of memory") // as C.CString does
	}
	for i, s := range o.StopStrings {
		cs := C.CString(s)
		ok := C.tgo_options_set_stop(co, C.size_t(i), cs)
		C.free(unsafe.Pointer(cs))
		if ok == 0 {
			C.tgo_options_free(co)
			panic("textgen: out of memory")
		}
	}
	for i, t := range o.StopTokens {
		C.tgo_options_set_stop_token(co, C.size_t(i), C.int32_t(t))
	}
	var scorers *C.char
	if o.BeamScorers != "" {
		scorers = C.CString(o.BeamScorers)
		defer C.free(unsafe.Pointer(scorers))
	}
	if C.tgo_options_set_beams(co, C.int32_t(o.NumBeams), C.int32_t(o.NumReturnSequences),
		C.int32_t(o.EarlyStopping), scorers) == 0 {
		C.tgo_options_free(co)
		panic("textgen: out of memory")
	}
	return co
}

// Sequence is one generated sequence; beam search returns several, best first.
type Sequence struct {
	Text       string
	Tokens     []int32
	Logprobs   []float32 // per token: the score it added (beam search) or its log-probability
	Score      float64   // the beam scorer's final score, or the sum of the log-probabilities
	StopReason string    // "max_tokens", "eos", "stop_string", ...
}

// Result is what a generation produced (copied; no library object stays behind).
type Result struct {
	Text         string
	Tokens       []int32
	Logprobs     []float32
	PromptTokens []int32
	StopReason   string // "max_tokens", "eos", "stop_string", "callback", ...
	PromptS      float64
	GenerateS    float64
	SampleS      float64
	// Every sequence, best first (one without beam search); Text, Tokens, Logprobs and
	// StopReason above describe Sequences[0].
	Sequences []Sequence
	// NumBeams: the beams the search ran with (the options', else generation_config.json's), 1
	// without beam search; BeamScorers: its scorers, every parameter written out ("" without).
	NumBeams    int
	BeamScorers string
}

func copyLogprobs(lp *C.float, n C.size_t) []float32 {
	if n == 0 || lp == nil {
		return nil
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(lp)), int(n))...)
}

func takeResult(r *C.tg_result) *Result {
	defer C.tg_result_free(r)
	var n C.size_t
	t := C.tg_result_text(r, &n)
	res := &Result{Text: C.GoStringN(t, C.int(n))}
	res.Tokens = copyIDs(C.tg_result_tokens(r, &n), n)
	res.Logprobs = copyLogprobs(C.tg_result_logprobs(r, &n), n)
	res.PromptTokens = copyIDs(C.tg_result_prompt_tokens(r, &n), n)
	res.StopReason = C.GoString(C.tg_stop_reason_str(C.tg_result_stop_reason(r)))
	for i := C.size_t(0); i < C.tg_result_n_sequences(r); i++ {
		var q Sequence
		t := C.tg_result_sequence_text(r, i, &n)
		q.Text = C.GoStringN(t, C.int(n))
		q.Tokens = copyIDs(C.tg_result_sequence_tokens(r, i, &n), n)
		q.Logprobs = copyLogprobs(C.tg_result_sequence_logprobs(r, i, &n), n)
		q.Score = float64(C.tg_result_sequence_score(r, i))
		q.StopReason = C.GoString(C.tg_stop_reason_str(C.tg_result_sequence_stop_reason(r, i)))
		res.Sequences = append(res.Sequences, q)
	}
	res.NumBeams = int(C.tg_result_num_beams(r))
	if s := C.tg_result_beam_scorers(r); s != nil {
		res.BeamScorers = C.GoString(s)
	}
	var tm C.tg_timing
	if C.tgo_result_timing(&tm, r) == C.TG_OK {
		res.PromptS, res.GenerateS, res.SampleS = float64(tm.prompt_s), float64(tm.generate_s), float64(tm.sample_s)
	}
	return res
}

// Generate produces a continuation of prompt in one call.
func (m *Model) Generate(prompt string, o *Options) (*Result, error) {
	return m.generate(prompt, o, nil)
}

// StreamFunc receives each piece of text (valid UTF-8) and the ids completed with it; returning
// false stops generation (stop reason "callback"). A panic in it stops generation and is
// raised again once the library has returned.
type StreamFunc func(text string, ids []int32) bool

// GenerateStream is Generate with the text streamed into fn as it is produced.
func (m *Model) GenerateStream(prompt string, o *Options, fn StreamFunc) (*Result, error) {
	return m.generate(prompt, o, fn)
}

type streamState struct {
	fn    StreamFunc
	panic interface{}
}

func (m *Model) generate(prompt string, o *Options, fn StreamFunc) (*Result, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, err := m.get()
	if err != nil {
		return nil, err
	}
	co := o.c()
	defer C.tgo_options_free(co)
	cprompt := C.CString(prompt)
	defer C.free(unsafe.Pointer(cprompt))
	var handle cgo.Handle
	var state *streamState
	stream := C.int(0)
	if fn != nil {
		state = &streamState{fn: fn}
		handle = cgo.NewHandle(state)
		defer handle.Delete()
		stream = 1
	}
	var r *C.tg_result
	var msg *C.char
	st := C.tgo_generate(&r, p, cprompt, co, C.uintptr_t(handle), stream, &msg)
	var res *Result
	if r != nil {
		res = takeResult(r)
	}
	if state != nil && state.panic != nil {
		if msg != nil {
			C.free(unsafe.Pointer(msg))
		}
		panic(state.panic)
	}
	if err := errOf(st, msg); err != nil {
		return nil, err
	}
	return res, nil
}

// Generator produces a generation one token at a time. One goroutine at a time.
type Generator struct {
	p      *C.tg_generator
	model  *Model
	result *Result
}

// NewGenerator tokenizes the prompt and runs it through the model.
func (m *Model) NewGenerator(prompt string, o *Options) (*Generator, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, err := m.get()
	if err != nil {
		return nil, err
	}
	co := o.c()
	defer C.tgo_options_free(co)
	cprompt := C.CString(prompt)
	defer C.free(unsafe.Pointer(cprompt))
	var g *C.tg_generator
	var msg *C.char
	if err := errOf(C.tgo_generator_create(&g, p, cprompt, co, &msg), msg); err != nil {
		return nil, err
	}
	gen := &Generator{p: g, model: m}
	atomic.AddInt64(&m.deps, 1)
	track("generator", 1)
	runtime.SetFinalizer(gen, (*Generator).Close)
	return gen, nil
}

// Next returns the text released by the next token; done is true once generation has ended
// (then Result holds the outcome).
func (g *Generator) Next() (text string, done bool, err error) {
	if g.p == nil {
		return "", true, &Error{Status: EINVAL, Message: "the generator is closed"}
	}
	var token, stop C.int32_t
	var ctext *C.char
	var n C.size_t
	var msg *C.char
	if err := errOf(C.tgo_generator_next(&token, &ctext, &n, &stop, g.p, &msg), msg); err != nil {
		return "", true, err
	}
	text = C.GoStringN(ctext, C.int(n))
	if stop != 0 {
		var r *C.tg_result
		if err := errOf(C.tgo_generator_result(&r, g.p, &msg), msg); err != nil {
			return text, true, err
		}
		g.result = takeResult(r)
		return text, true, nil
	}
	return text, false, nil
}

// Result is the outcome once Next has reported done.
func (g *Generator) Result() *Result { return g.result }

// Close releases the generator; calling it again does nothing.
func (g *Generator) Close() error {
	if g.p != nil {
		C.tg_generator_free(g.p)
		g.p = nil
		atomic.AddInt64(&g.model.deps, -1)
		track("generator", -1)
		runtime.SetFinalizer(g, nil)
	}
	return nil
}

// ---- chains ----

// Chain is a sampler chain and the state of one sequence. One goroutine at a time.
type Chain struct {
	p      *C.tg_chain
	nVocab int
	model  *Model // nil for a bare vocabulary
}

func newChain(p *C.tg_chain, nVocab int, m *Model) *Chain {
	c := &Chain{p: p, nVocab: nVocab, model: m}
	if m != nil {
		atomic.AddInt64(&m.deps, 1)
	}
	track("chain", 1)
	runtime.SetFinalizer(c, (*Chain).Close)
	return c
}

// ParseChain builds a chain for m's vocabulary, end ids and tokenizer (m nil: a bare
// vocabulary of nVocab ids).
func ParseChain(spec string, m *Model, nVocab int, seed uint64) (*Chain, error) {
	var mp *C.tg_model
	if m != nil {
		m.mu.RLock()
		defer m.mu.RUnlock()
		var err error
		if mp, err = m.get(); err != nil {
			return nil, err
		}
		var info C.tg_model_info
		var msg *C.char
		if err := errOf(C.tgo_model_info(&info, mp, &msg), msg); err != nil {
			return nil, err
		}
		nVocab = int(info.n_vocab)
	}
	cspec := C.CString(spec)
	defer C.free(unsafe.Pointer(cspec))
	var c *C.tg_chain
	var msg *C.char
	if err := errOf(C.tgo_chain_parse(&c, cspec, mp, C.int32_t(nVocab), C.uint64_t(seed), &msg), msg); err != nil {
		return nil, err
	}
	return newChain(c, nVocab, m), nil
}

// Spec prints the chain with every parameter written out.
func (c *Chain) Spec() (string, error) {
	var s, msg *C.char
	if err := errOf(C.tgo_chain_print(&s, c.p, &msg), msg); err != nil {
		return "", err
	}
	defer C.tg_free(unsafe.Pointer(s))
	return C.GoString(s), nil
}

// Sample runs every stage on the logits (exactly the vocabulary size) and picks a token.
func (c *Chain) Sample(logits []float32) (int32, error) {
	if len(logits) != c.nVocab {
		return -1, &Error{Status: EINVAL, Message: fmt.Sprintf("sample: %d logits for a vocabulary of %d", len(logits), c.nVocab)}
	}
	var tok C.int32_t
	var msg *C.char
	err := errOf(C.tgo_chain_sample(&tok, c.p, (*C.float)(unsafe.Pointer(&logits[0])), &msg), msg)
	return int32(tok), err
}

// Accept appends a token to the history and lets every stage learn it.
func (c *Chain) Accept(token int32) error {
	var msg *C.char
	return errOf(C.tgo_chain_accept(c.p, C.int32_t(token), &msg), msg)
}

// Clone is a deep copy with the same stages, states and history.
func (c *Chain) Clone() (*Chain, error) {
	var d *C.tg_chain
	var msg *C.char
	if err := errOf(C.tgo_chain_clone(&d, c.p, &msg), msg); err != nil {
		return nil, err
	}
	return newChain(d, c.nVocab, c.model), nil
}

// Close releases the chain; calling it again does nothing.
func (c *Chain) Close() error {
	if c.p != nil {
		C.tg_chain_free(c.p)
		c.p = nil
		if c.model != nil {
			atomic.AddInt64(&c.model.deps, -1)
		}
		track("chain", -1)
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

var registered int64

// registeredCount is how many Go processors were registered (for tests).
func registeredCount() int64 { return atomic.LoadInt64(&registered) }
