package textgen

// Callbacks from the library into Go: the stream callback and processors written in Go. The C
// trampolines are in bridge.c; this file's preamble may only declare (it has //export).

/*
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

//export goStream
func goStream(handle C.uintptr_t, text *C.char, n C.size_t, ids *C.int32_t, nIDs C.size_t) (ret C.int32_t) {
	s := cgo.Handle(handle).Value().(*streamState)
	if s.panic != nil {
		return 1 // the flush after a stop request: we are unwinding
	}
	defer func() {
		if p := recover(); p != nil {
			s.panic = p
			ret = 1
		}
	}()
	// ids may be NULL when there are none
	var goIDs []int32
	if nIDs > 0 && ids != nil {
		goIDs = unsafe.Slice((*int32)(unsafe.Pointer(ids)), int(nIDs))
	}
	if s.fn(C.GoStringN(text, C.int(n)), goIDs) {
		return 0
	}
	return 1
}

// Kind of a processor.
type Kind uint32

// Processor kinds (TG_PROC_*).
const (
	Transform Kind = 1
	Filter    Kind = 2
	Selector  Kind = 3
)

// Parameter types (TG_PARAM_*).
const (
	ParamFloat  = 1
	ParamInt    = 2
	ParamBool   = 3
	ParamString = 4
	ParamIDs    = 5
)

// Param is one parameter of a processor's schema.
type Param struct {
	Name     string
	Type     uint32 // ParamFloat, ParamInt, ...
	Default  string // parsed like a user value
	Required bool   // no default
	Min, Max float64
	Doc      string
}

// Value is a parsed parameter value: Number for floats, Int for ints and bools, Text for
// strings, IDs for id lists.
type Value struct {
	Number float64
	Int    int64
	Text   string
	IDs    []int32
}

// Candidates is the live candidates of one step (valid during Apply only).
type Candidates struct {
	c *C.tg_candidates
}

// Len is the number of live candidates.
func (c *Candidates) Len() int { return int(c.c.size) }

// IDs are the live ids (a view of the library's array).
func (c *Candidates) IDs() []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(c.c.ids)), c.Len())
}

// Logits are the live logits (a view; after writing them call LogitsChanged).
func (c *Candidates) Logits() []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(c.c.logits)), c.Len())
}

// LogitsChanged records that probabilities and order are no longer known.
func (c *Candidates) LogitsChanged() {
	c.c.probs_valid = 0
	c.c.sorted = 0
}

// Keep keeps the entries whose flag is true (stable; refuses to keep none).
func (c *Candidates) Keep(keep []bool) error {
	if len(keep) != c.Len() {
		return &Error{Status: EINVAL, Message: fmt.Sprintf("keep: %d flags for %d candidates", len(keep), c.Len())}
	}
	mask := make([]byte, len(keep)+1)
	for i, k := range keep {
		if k {
			mask[i] = 1
		}
	}
	var msg *C.char
	return errOf(C.tgo_candidates_keep(c.c, (*C.uint8_t)(unsafe.Pointer(&mask[0])), &msg), msg)
}

// Softmax computes the probabilities of the live entries and returns them.
func (c *Candidates) Softmax() ([]float32, error) {
	var msg *C.char
	if err := errOf(C.tgo_candidates_softmax(c.c, &msg), msg); err != nil {
		return nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(c.c.probs)), c.Len()), nil
}

// Sort puts the k largest logits first, in descending order.
func (c *Candidates) Sort(k int) error {
	var msg *C.char
	return errOf(C.tgo_candidates_sort(c.c, C.size_t(k), &msg), msg)
}

// Select is a selector's choice: the index of the chosen entry.
func (c *Candidates) Select(index int) { c.c.selected = C.int32_t(index) }

// Step is the step being decided.
type Step struct {
	Seed     uint64
	Sequence int32
	Step     int32
	Tokens   []int32 // history: the prompt then the generated tokens (valid during the call)
	NPrompt  int
}

// Processor is a processor state written in Go. It may also implement Accepter, Resetter and
// Cloner.
type Processor interface {
	Apply(c *Candidates, step *Step) error
}

// Accepter learns the token chosen at each step.
type Accepter interface {
	Accept(token int32, step *Step) error
}

// Resetter forgets what it learned.
type Resetter interface{ Reset() }

// Cloner makes a deep copy (for Chain.Clone).
type Cloner interface {
	Clone() (Processor, error)
}

// ProcessorDef is a processor written in Go: its schema and a constructor.
type ProcessorDef struct {
	Name   string
	Kind   Kind
	Doc    string
	Params []Param
	// Create makes a state from the parsed values (in schema order) and the vocabulary size.
	Create func(values []Value, nVocab int32) (Processor, error)
}

// liveStates counts the Go processor states the library holds (for tests).
var liveStates int64

// LiveProcessorStates is the number of Go processor states not destroyed yet.
func LiveProcessorStates() int64 { return atomic.LoadInt64(&liveStates) }

func fail(name string, err error) C.tg_status {
	status := C.tg_status(EUSER)
	msg := err.Error()
	if e, ok := err.(*Error); ok {
		status = C.tg_status(e.Status)
		msg = e.Message
	}
	cmsg := C.CString(name + ": " + msg)
	defer C.free(unsafe.Pointer(cmsg))
	return C.tg_plugin_set_error(status, cmsg)
}

// guarded runs a callback body; an error or a panic becomes the step's status and message.
func guarded(name string, f func() error) (st C.tg_status) {
	defer func() {
		if p := recover(); p != nil {
			st = fail(name, fmt.Errorf("panic: %v", p))
		}
	}()
	if err := f(); err != nil {
		return fail(name, err)
	}
	return C.TG_OK
}

type procState struct {
	def *ProcessorDef
	p   Processor
}

func newState(def *ProcessorDef, p Processor) C.uintptr_t {
	atomic.AddInt64(&liveStates, 1)
	return C.uintptr_t(cgo.NewHandle(&procState{def, p}))
}

func stepOf(s *C.tg_step_info) *Step {
	st := &Step{Seed: uint64(s.seed), Sequence: int32(s.sequence), Step: int32(s.step), NPrompt: int(s.n_prompt)}
	if s.n_tokens > 0 && s.tokens != nil {
		st.Tokens = unsafe.Slice((*int32)(unsafe.Pointer(s.tokens)), int(s.n_tokens))
	}
	return st
}

//export goProcCreate
func goProcCreate(defHandle C.uintptr_t, values *C.tg_param_value, nVocab C.int32_t, out *C.uintptr_t) C.tg_status {
	def := cgo.Handle(defHandle).Value().(*ProcessorDef)
	return guarded(def.Name, func() error {
		vals := make([]Value, len(def.Params))
		if len(def.Params) > 0 {
			cv := unsafe.Slice(values, len(def.Params))
			for i := range def.Params {
				v := &cv[i]
				vals[i] = Value{Number: float64(v.number), Int: int64(v.integer)}
				if v.string != nil {
					vals[i].Text = C.GoString(v.string)
				}
				vals[i].IDs = copyIDs(v.ids, v.n_ids)
			}
		}
		p, err := def.Create(vals, int32(nVocab))
		if err != nil {
			return err
		}
		if p == nil {
			return &Error{Status: EUSER, Message: "Create returned no processor"}
		}
		*out = newState(def, p)
		return nil
	})
}

//export goProcApply
func goProcApply(state C.uintptr_t, c *C.tg_candidates, step *C.tg_step_info) C.tg_status {
	s := cgo.Handle(state).Value().(*procState)
	return guarded(s.def.Name, func() error { return s.p.Apply(&Candidates{c}, stepOf(step)) })
}

//export goProcAccept
func goProcAccept(state C.uintptr_t, token C.int32_t, step *C.tg_step_info) C.tg_status {
	s := cgo.Handle(state).Value().(*procState)
	a, ok := s.p.(Accepter)
	if !ok {
		return C.TG_OK
	}
	return guarded(s.def.Name, func() error { return a.Accept(int32(token), stepOf(step)) })
}

//export goProcReset
func goProcReset(state C.uintptr_t) {
	s := cgo.Handle(state).Value().(*procState)
	if r, ok := s.p.(Resetter); ok {
		guarded(s.def.Name, func() error { r.Reset(); return nil }) // reset cannot fail in C
	}
}

//export goProcClone
func goProcClone(state C.uintptr_t, out *C.uintptr_t) C.tg_status {
	s := cgo.Handle(state).Value().(*procState)
	return guarded(s.def.Name, func() error {
		c, ok := s.p.(Cloner)
		if !ok {
			return &Error{Status: EUNSUPPORTD, Message: "this processor cannot be cloned (implement Cloner)"}
		}
		p, err := c.Clone()
		if err != nil {
			return err
		}
		*out = newState(s.def, p)
		return nil
	})
}

//export goProcDestroy
func goProcDestroy(state C.uintptr_t) {
	cgo.Handle(state).Delete()
	atomic.AddInt64(&liveStates, -1)
}

// RegisterProcessor makes a processor written in Go usable by name in any chain spec of this
// process, next to the built-in ones. Registration is permanent: the definition stays
// referenced for the life of the process. Errors: EEXISTS for a name already taken, EPLUGIN for
// a bad schema.
func RegisterProcessor(def ProcessorDef) error {
	if def.Create == nil {
		return &Error{Status: EINVAL, Message: "RegisterProcessor: " + def.Name + " has no Create"}
	}
	d := def
	handle := cgo.NewHandle(&d)
	var cstrings []*C.char
	cstr := func(s string) *C.char {
		c := C.CString(s)
		cstrings = append(cstrings, c)
		return c
	}
	defer func() {
		for _, c := range cstrings {
			C.free(unsafe.Pointer(c))
		}
	}()
	n := len(d.Params)
	params := (*C.tgo_param)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof(C.tgo_param{}))))
	defer C.free(unsafe.Pointer(params))
	ps := unsafe.Slice(params, n+1)
	for i, p := range d.Params {
		ps[i].name = cstr(p.Name)
		ps[i]._type = C.uint32_t(p.Type)
		if !p.Required {
			ps[i].default_value = cstr(p.Default)
		}
		ps[i].min, ps[i].max = C.double(p.Min), C.double(p.Max)
		ps[i].doc = cstr(p.Doc)
	}
	var msg *C.char
	err := errOf(C.tgo_register_processor(cstr(d.Name), C.uint32_t(d.Kind), cstr(d.Doc), params,
		C.size_t(n), C.uintptr_t(handle), &msg), msg)
	if err != nil {
		handle.Delete() // not registered: nothing refers to it
		return err
	}
	atomic.AddInt64(&registered, 1)
	return nil
}
