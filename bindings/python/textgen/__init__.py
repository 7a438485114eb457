"""libtextgen for Python: pure ctypes, no compiled extension (docs/bindings.md).

    import textgen
    with textgen.Model() as model:                        # $TEXTGEN_MODEL or the bundled model
        for chunk in model.stream("ROMEO:", samplers="top_k(k=40) dist", seed=1):
            print(chunk, end="", flush=True)

Errors raise :class:`TextgenError` (``.status``, ``.status_name``, the library's message), read on
the same thread right after the failing call. The GIL is released during every call into the
library — a generation, a chain step — so other Python threads run meanwhile; Python callbacks
(a stream callback, a processor written in Python) take it back for the time they run.

Threading follows the C library: a :class:`Model` (and its :class:`Tokenizer`) may be shared by
any number of threads; a :class:`Chain` or a stream belongs to one thread at a time.
"""

from __future__ import annotations

import array
import ctypes
import threading
import weakref
from ctypes import POINTER, byref, c_char_p, c_float, c_int32, c_size_t, c_uint8, c_void_p
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Union)

from . import _lib
from ._lib import lib

__all__ = [
    "TextgenError", "Model", "Tokenizer", "Result", "Chain", "Candidates", "Step", "Processor",
    "Param", "ProcessorDef", "register_processors", "plugins_dir", "default_model_dir",
    "version", "STOP_REASONS", "GEN_IGNORE_EOS", "GEN_ALLOW_SPECIAL", "GEN_NO_CONFIG",
    "PARAM_FLOAT", "PARAM_INT", "PARAM_BOOL", "PARAM_STRING", "PARAM_IDS", "TRANSFORM", "FILTER",
    "SELECTOR", "GeneratedSequence", "EARLY_STOP_DEFAULT", "EARLY_STOP_FALSE", "EARLY_STOP_TRUE",
    "EARLY_STOP_NEVER", "WEIGHTS_AUTO", "WEIGHTS_F32", "WEIGHTS_BF16", "WEIGHTS_INT8", "KV_AUTO",
    "KV_F32", "KV_BF16",
]

GEN_IGNORE_EOS, GEN_ALLOW_SPECIAL, GEN_NO_CONFIG = 1, 2, 4
PARAM_FLOAT, PARAM_INT, PARAM_BOOL, PARAM_STRING, PARAM_IDS = 1, 2, 3, 4, 5
TRANSFORM, FILTER, SELECTOR = 1, 2, 3
# Beam search's early_stopping (Hugging Face's False / True / "never"; DEFAULT is FALSE)
EARLY_STOP_DEFAULT, EARLY_STOP_FALSE, EARLY_STOP_TRUE, EARLY_STOP_NEVER = 0, 1, 2, 3
STOP_REASONS = {i: lib.tg_stop_reason_str(i).decode() for i in range(9)}
# Model(weight_type=...) and Model(kv_type=...): the TG_WEIGHTS_* and TG_KV_* of textgen/model.h
WEIGHTS_AUTO, WEIGHTS_F32, WEIGHTS_BF16, WEIGHTS_INT8 = 0, 1, 2, 3
KV_AUTO, KV_F32, KV_BF16 = 0, 1, 2


class TextgenError(Exception):
    """A failed libtextgen call: ``status`` (negative TG_E* code) and the library's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.status_name = _lib.status_name(status)
        self.message = message

    def __str__(self) -> str:
        return "%s (%s)" % (self.message, self.status_name)


def _check(status: int) -> None:
    if status != 0:
        raise TextgenError(status, _lib.error_message() or _lib.status_name(status))


# ---- every handle is counted, so tests can prove that all of them are freed ----

_live_lock = threading.Lock()
_live: Dict[str, int] = {}


def _track(kind: str, delta: int) -> None:
    with _live_lock:
        _live[kind] = _live.get(kind, 0) + delta


def live_handles() -> Dict[str, int]:
    """Library objects this module holds now, by kind (all zero once everything is closed)."""
    with _live_lock:
        return {k: v for k, v in _live.items() if v}


class _Handle:
    """Owns one library pointer; ``close()`` (or the context manager, or collection) frees it."""

    _kind = ""
    _free: Callable[[int], None]

    def __init__(self, ptr: int) -> None:
        self._ptr: Optional[int] = ptr
        _track(self._kind, 1)

    def _get(self) -> int:
        if self._ptr is None:
            raise ValueError("this %s is closed" % self._kind)
        return self._ptr

    def close(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            type(self)._free(ptr)
            _track(self._kind, -1)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass


def version() -> str:
    return lib.tg_version_string().decode()


def plugins_dir() -> str:
    """The installed plugin folder, found relative to the loaded library."""
    d = c_char_p()
    _check(lib.tg_plugins_dir(byref(d)))
    return d.value.decode()


def default_model_dir() -> str:
    """$TEXTGEN_MODEL, else the bundled model installed with the library."""
    d = c_char_p()
    _check(lib.tg_default_model_dir(byref(d)))
    return d.value.decode()


# ---- tokenizer ----

class Tokenizer:
    """A model's tokenizer (borrowed: valid while its model is open). Thread-safe."""

    def __init__(self, ptr: int, owner: "Model") -> None:
        self._ptr = ptr
        self._owner = owner  # keeps the model alive

    @property
    def n_vocab(self) -> int:
        return lib.tg_tokenizer_n_vocab(self._ptr)

    def encode(self, text: str, flags: int = 0) -> List[int]:
        self._owner._get()
        data = text.encode("utf-8")
        ids, n = POINTER(c_int32)(), c_size_t()
        _check(lib.tg_tokenizer_encode(byref(ids), byref(n), self._ptr, data, len(data), flags))
        try:
            return ids[:n.value] if n.value else []
        finally:
            lib.tg_free(ids)

    def decode(self, ids: Sequence[int], flags: int = 0) -> str:
        self._owner._get()
        arr = (c_int32 * len(ids))(*ids)
        text, n = c_void_p(), c_size_t()
        _check(lib.tg_tokenizer_decode(byref(text), byref(n), self._ptr, arr, len(ids), flags))
        try:
            return ctypes.string_at(text, n.value).decode("utf-8")
        finally:
            lib.tg_free(text)


# ---- results ----

@dataclass
class Timing:
    prompt_s: float
    generate_s: float
    sample_s: float
    n_prompt: int
    n_generated: int


@dataclass
class GeneratedSequence:
    """One sequence of a result: beam search returns several, best first."""
    text: str
    tokens: List[int]
    logprobs: List[float]  # per token: the score it added (beams) or its log-probability
    score: float  # the beam scorer's final score, or the sum of the log-probabilities
    stop_reason: str


@dataclass
class Result:
    """What a generation produced (a copy: no library object stays behind). ``text``,
    ``tokens``, ``logprobs`` and ``stop_reason`` describe the best sequence, ``sequences[0]``."""
    text: str
    tokens: List[int]
    logprobs: List[float]
    prompt_tokens: List[int]
    stop_reason: str
    timing: Timing
    sequences: List[GeneratedSequence] = field(default_factory=list)
    #: beams the search ran with (the arguments', else generation_config.json's); 1 without
    num_beams: int = 1
    #: the beam scorers the search ran with, every parameter written out; None without beams
    beam_scorers: Optional[str] = None


def _sequence_from(ptr: int, i: int) -> GeneratedSequence:
    n = c_size_t()
    text = lib.tg_result_sequence_text(ptr, i, byref(n))
    text_s = ctypes.string_at(text, n.value).decode("utf-8")
    toks = lib.tg_result_sequence_tokens(ptr, i, byref(n))
    tokens = toks[:n.value] if n.value else []
    lps = lib.tg_result_sequence_logprobs(ptr, i, byref(n))
    logprobs = lps[:n.value] if n.value else []
    reason = lib.tg_stop_reason_str(lib.tg_result_sequence_stop_reason(ptr, i)).decode()
    return GeneratedSequence(text_s, tokens, logprobs, lib.tg_result_sequence_score(ptr, i),
                             reason)


def _result_from(ptr: int) -> Result:
    try:
        n = c_size_t()
        text = lib.tg_result_text(ptr, byref(n))
        text_s = ctypes.string_at(text, n.value).decode("utf-8")
        toks = lib.tg_result_tokens(ptr, byref(n))
        tokens = toks[:n.value] if n.value else []
        lps = lib.tg_result_logprobs(ptr, byref(n))
        logprobs = lps[:n.value] if n.value else []
        pt = lib.tg_result_prompt_tokens(ptr, byref(n))
        prompt = pt[:n.value] if n.value else []
        t = _lib.Timing()
        t.struct_size = ctypes.sizeof(t)
        _check(lib.tg_result_timing(byref(t), ptr))
        reason = lib.tg_stop_reason_str(lib.tg_result_stop_reason(ptr)).decode()
        seqs = [_sequence_from(ptr, i) for i in range(lib.tg_result_n_sequences(ptr))]
        scorers = lib.tg_result_beam_scorers(ptr)
        return Result(text_s, tokens, logprobs, prompt, reason,
                      Timing(t.prompt_s, t.generate_s, t.sample_s, t.n_prompt, t.n_generated),
                      seqs, lib.tg_result_num_beams(ptr),
                      scorers.decode() if scorers is not None else None)
    finally:
        lib.tg_result_free(ptr)


class _GenOptions:
    """A tg_generate_options and the buffers it points into (alive as long as this object)."""

    def __init__(self, samplers: Optional[str], max_new_tokens: int, stop: Sequence[str],
                 stop_tokens: Sequence[int], seed: int, n_threads: int, max_time_s: float,
                 flags: int, num_beams: int, num_return_sequences: int, early_stopping: int,
                 beam_scorers: Optional[str]) -> None:
        o = _lib.init_struct(lib.tg_generate_options_init, _lib.GenerateOptions)
        self._samplers = _lib.optional_bytes(samplers)
        o.samplers = self._samplers
        o.max_new_tokens = max_new_tokens
        self._stops = (c_char_p * len(stop))(*[s.encode("utf-8") for s in stop])
        o.stop_strings = self._stops if stop else None
        o.n_stop_strings = len(stop)
        self._stop_tokens = (c_int32 * len(stop_tokens))(*stop_tokens)
        o.stop_tokens = self._stop_tokens if stop_tokens else None
        o.n_stop_tokens = len(stop_tokens)
        o.seed = seed
        o.n_threads = n_threads
        o.max_time_s = max_time_s
        o.flags = flags
        o.num_beams = num_beams
        o.num_return_sequences = num_return_sequences
        o.early_stopping = early_stopping
        self._beam_scorers = _lib.optional_bytes(beam_scorers)
        o.beam_scorers = self._beam_scorers
        self.c = o


# ---- model ----

class Model(_Handle):
    """A loaded model folder (None: $TEXTGEN_MODEL, else the bundled model). Thread-safe."""

    _kind = "model"
    _free = lib.tg_model_free

    def __init__(self, path: Optional[str] = None, weight_type: int = 0,
                 kv_type: int = 0) -> None:
        self._dependents: "weakref.WeakSet[_Handle]" = weakref.WeakSet()
        opts = _lib.init_struct(lib.tg_model_options_init, _lib.ModelOptions)
        opts.weight_type = weight_type
        opts.kv_type = kv_type
        ptr = c_void_p()
        if path is None:
            _check(lib.tg_model_load_default(byref(ptr), byref(opts)))
        else:
            _check(lib.tg_model_load(byref(ptr), str(path).encode("utf-8"), byref(opts)))
        super().__init__(ptr.value)

    def close(self) -> None:
        """Free the model, after the streams and chains made from it (they need it)."""
        for dep in list(getattr(self, "_dependents", ())):
            dep.close()
        super().close()

    @property
    def path(self) -> str:
        return lib.tg_model_path(self._get()).decode("utf-8")

    @property
    def info(self) -> Dict[str, int]:
        i = _lib.ModelInfo()
        i.struct_size = ctypes.sizeof(i)
        _check(lib.tg_model_get_info(byref(i), self._get()))
        return {name: getattr(i, name) for name, _ in _lib.ModelInfo._fields_[1:]}

    @property
    def tokenizer(self) -> Tokenizer:
        t = lib.tg_model_tokenizer(self._get())
        if not t:
            raise TextgenError(-7, "the model folder '%s' has no tokenizer" % self.path)
        return Tokenizer(t, self)

    def generate(self, prompt: str, samplers: Optional[str] = None, max_new_tokens: int = 0,
                 stop: Sequence[str] = (), stop_tokens: Sequence[int] = (), seed: int = 0,
                 n_threads: int = 0, max_time_s: float = 0.0, flags: int = 0,
                 on_text: Optional[Callable[[str, List[int]], Optional[bool]]] = None,
                 num_beams: int = 0, num_return_sequences: int = 0, early_stopping: int = 0,
                 beam_scorers: Optional[str] = None) -> Result:
        """Generate a continuation of ``prompt`` in one call (the GIL is released meanwhile).

        ``on_text(text, ids)`` receives each piece of text as it is produced; returning False
        stops generation (stop reason "callback"), and an exception it raises stops generation
        and is raised again here.

        ``num_beams`` > 1 runs beam search; ``result.sequences`` then holds the best
        ``num_return_sequences`` hypotheses, best first. ``early_stopping`` is an EARLY_STOP_*
        value, ``beam_scorers`` a scorer spec such as "length_penalty(alpha=2)" or
        "diverse_groups(groups=2, penalty=0.5)" (None: length_penalty(alpha=1)).
        """
        o = _GenOptions(samplers, max_new_tokens, stop, stop_tokens, seed, n_threads,
                        max_time_s, flags, num_beams, num_return_sequences, early_stopping,
                        beam_scorers)
        failure: List[BaseException] = []
        if on_text is not None:
            def trampoline(text, length, ids, n_ids, user):
                if failure:
                    return 1  # the flush after a stop request: we are unwinding
                try:
                    chunk = ctypes.string_at(text, length).decode("utf-8") if length else ""
                    ok = on_text(chunk, ids[:n_ids] if n_ids else [])
                    return 1 if ok is False else 0
                except BaseException as e:  # noqa: B902 — re-raised after tg_generate
                    failure.append(e)
                    return 1
            cb = _lib.STREAM_FN(trampoline)  # referenced until tg_generate returns
            o.c.on_text = cb
        res = c_void_p()
        st = lib.tg_generate(byref(res), self._get(), prompt.encode("utf-8"), byref(o.c))
        result = _result_from(res.value) if res.value else None
        if failure:
            raise failure[0]
        _check(st)
        return result

    def stream(self, prompt: str, samplers: Optional[str] = None, max_new_tokens: int = 0,
               stop: Sequence[str] = (), stop_tokens: Sequence[int] = (), seed: int = 0,
               n_threads: int = 0, max_time_s: float = 0.0, flags: int = 0,
               num_beams: int = 0, num_return_sequences: int = 0, early_stopping: int = 0,
               beam_scorers: Optional[str] = None) -> "Stream":
        """A generator of text chunks, one token at a time (each step releases the GIL).
        After it is exhausted, ``.result`` holds the :class:`Result`. With beam search a chunk
        is the text every hypothesis that can still win shares, and the last one the rest of
        the best sequence."""
        return Stream(self, prompt, _GenOptions(samplers, max_new_tokens, stop, stop_tokens,
                                                seed, n_threads, max_time_s, flags, num_beams,
                                                num_return_sequences, early_stopping,
                                                beam_scorers))


class Stream(_Handle):
    """Iterates over the text chunks of a generation; a context manager. One thread at a time."""

    _kind = "generator"
    _free = lib.tg_generator_free

    def __init__(self, model: Model, prompt: str, opts: _GenOptions) -> None:
        ptr = c_void_p()
        _check(lib.tg_generator_create(byref(ptr), model._get(), prompt.encode("utf-8"),
                                       byref(opts.c)))
        self._model = model
        self.result: Optional[Result] = None
        super().__init__(ptr.value)
        model._dependents.add(self)

    def __iter__(self) -> Iterator[str]:
        token, text, n, stop = c_int32(), c_void_p(), c_size_t(), c_int32()
        while True:
            _check(lib.tg_generator_next(byref(token), byref(text), byref(n), byref(stop),
                                         self._get()))
            if n.value:
                yield ctypes.string_at(text, n.value).decode("utf-8")
            if stop.value:
                res = c_void_p()
                _check(lib.tg_generator_result(byref(res), self._get()))
                self.result = _result_from(res.value)
                self.close()
                return


# ---- chains ----

class Chain(_Handle):
    """A sampler chain for a model (or a bare vocabulary size). One thread at a time."""

    _kind = "chain"
    _free = lib.tg_chain_free

    def __init__(self, spec: str, model: Optional[Model] = None, n_vocab: int = 0,
                 seed: int = 0) -> None:
        o = _lib.init_struct(lib.tg_chain_options_init, _lib.ChainOptions)
        o.model = model._get() if model is not None else None
        o.n_vocab = n_vocab
        o.seed = seed
        self._model = model
        ptr = c_void_p()
        _check(lib.tg_chain_parse(byref(ptr), spec.encode("utf-8"), byref(o)))
        self.n_vocab = model.info["n_vocab"] if model is not None else n_vocab
        super().__init__(ptr.value)
        if model is not None:
            model._dependents.add(self)

    @property
    def spec(self) -> str:
        s = c_void_p()
        _check(lib.tg_chain_print(byref(s), self._get()))
        try:
            return ctypes.string_at(s).decode("utf-8")
        finally:
            lib.tg_free(s)

    def sample(self, logits: Union[Sequence[float], "array.array", memoryview]) -> int:
        """Run every stage on n_vocab logits and pick a token (not accepted yet). A float32
        buffer (array.array('f'), a numpy float32 array, a ctypes c_float array) is passed
        without converting each number."""
        if len(logits) != self.n_vocab:
            raise ValueError("sample: %d logits for a vocabulary of %d" % (len(logits),
                                                                           self.n_vocab))
        if isinstance(logits, ctypes.Array):
            arr = logits
        else:
            try:
                view = memoryview(logits)
                if view.format != "f" or view.itemsize != 4:
                    raise TypeError
                arr = (c_float * len(logits)).from_buffer_copy(view)
            except TypeError:
                arr = (c_float * len(logits))(*logits)
        tok = c_int32()
        _check(lib.tg_chain_sample(byref(tok), None, self._get(), arr))
        return tok.value

    def accept(self, token: int) -> None:
        _check(lib.tg_chain_accept(self._get(), token))


# ---- processors written in Python ----

class Candidates:
    """The live candidates a processor sees (valid only during its ``apply`` call)."""

    def __init__(self, c) -> None:
        self._c = c

    @property
    def size(self) -> int:
        return self._c.contents.size

    @property
    def ids(self) -> List[int]:
        return self._c.contents.ids[:self.size]

    @property
    def logits(self) -> List[float]:
        return self._c.contents.logits[:self.size]

    def set_logits(self, values: Sequence[float]) -> None:
        """Replace the live logits (same length): probabilities and order are no longer known."""
        c = self._c.contents
        if len(values) != c.size:
            raise ValueError("set_logits: %d values for %d candidates" % (len(values), c.size))
        ctypes.memmove(c.logits, (c_float * c.size)(*values), 4 * c.size)
        c.probs_valid = 0
        c.sorted = 0

    def set_logit(self, index: int, value: float) -> None:
        c = self._c.contents
        c.logits[index] = value
        c.probs_valid = 0
        c.sorted = 0

    def softmax(self) -> List[float]:
        _check(lib.tg_candidates_softmax(self._c))
        return self._c.contents.probs[:self.size]

    def sort(self, k: int) -> None:
        _check(lib.tg_candidates_sort(self._c, k))

    def truncate(self, n: int) -> None:
        _check(lib.tg_candidates_truncate(self._c, n))

    def keep(self, mask: Sequence[bool]) -> None:
        """Keep the entries whose flag is true (stable; refuses to keep none)."""
        if len(mask) != self.size:
            raise ValueError("keep: %d flags for %d candidates" % (len(mask), self.size))
        _check(lib.tg_candidates_keep(self._c, (c_uint8 * len(mask))(*map(bool, mask))))

    def select(self, index: int) -> None:
        self._c.contents.selected = index


@dataclass
class Step:
    seed: int
    sequence: int
    step: int
    n_prompt: int
    _s: object = field(repr=False, default=None)

    @property
    def tokens(self) -> List[int]:
        """History: the prompt, then the generated tokens."""
        s = self._s.contents
        return s.tokens[:s.n_tokens] if s.n_tokens else []


class Processor:
    """Subclass and override ``apply``; ``accept``, ``reset`` and ``clone`` are optional."""

    def apply(self, cands: Candidates, step: Step) -> None:
        raise NotImplementedError

    def accept(self, token: int, step: Step) -> None:
        pass

    def reset(self) -> None:
        pass

    def clone(self) -> "Processor":
        raise TextgenError(-6, "%s cannot be cloned (override Processor.clone)"
                           % type(self).__name__)


@dataclass
class Param:
    name: str
    type: int = PARAM_FLOAT
    default: Optional[str] = None
    min: float = 0.0
    max: float = 0.0
    doc: str = ""


ParamValues = Dict[str, Union[float, int, bool, str, List[int]]]


@dataclass
class ProcessorDef:
    """A processor written in Python: ``create(values, n_vocab)`` returns a :class:`Processor`."""
    name: str
    create: Callable[[ParamValues, int], Processor]
    kind: int = TRANSFORM
    doc: str = "a processor written in Python"
    params: List[Param] = field(default_factory=list)


# Everything the library may call back into stays referenced here for the life of the process
# (a registered plugin is never unloaded).
_registered: List[object] = []
_states: Dict[int, Processor] = {}
_states_lock = threading.Lock()
_next_state = [1]


def _value_of(p: Param, v) -> object:
    if p.type == PARAM_FLOAT:
        return v.number
    if p.type == PARAM_INT:
        return v.integer
    if p.type == PARAM_BOOL:
        return bool(v.integer)
    if p.type == PARAM_STRING:
        return (v.string or b"").decode("utf-8")
    return v.ids[:v.n_ids] if v.n_ids else []


def _fail(d: ProcessorDef, e: BaseException) -> int:
    status = e.status if isinstance(e, TextgenError) else -14  # TG_EUSER
    msg = e.message if isinstance(e, TextgenError) else "%s: %s" % (type(e).__name__, e)
    return lib.tg_plugin_set_error(status, ("%s: %s" % (d.name, msg)).encode("utf-8"))


def _new_state(p: Processor) -> int:
    with _states_lock:
        key = _next_state[0]
        _next_state[0] += 1
        _states[key] = p
    return key


def _callbacks(d: ProcessorDef):
    def create(out, values, ctx):
        try:
            vals = {p.name: _value_of(p, values[i]) for i, p in enumerate(d.params)}
            proc = d.create(vals, ctx.contents.n_vocab)
            if not isinstance(proc, Processor):
                raise TypeError("create returned %r, not a textgen.Processor" % (proc,))
            out[0] = _new_state(proc)
            return 0
        except BaseException as e:  # noqa: B902 — becomes the step's error
            return _fail(d, e)

    def step_of(s) -> Step:
        x = s.contents
        return Step(x.seed, x.sequence, x.step, x.n_prompt, s)

    def apply(state, cands, step):
        try:
            _states[state].apply(Candidates(cands), step_of(step))
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(d, e)

    def accept(state, token, step):
        try:
            _states[state].accept(token, step_of(step))
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(d, e)

    def reset(state):
        try:
            _states[state].reset()
        except BaseException:  # noqa: B902 — reset cannot fail in the C ABI
            pass

    def clone(out, state):
        try:
            out[0] = _new_state(_states[state].clone())
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(d, e)

    def destroy(state):
        with _states_lock:
            _states.pop(state, None)

    return (_lib.CREATE_FN(create), _lib.APPLY_FN(apply), _lib.ACCEPT_FN(accept),
            _lib.RESET_FN(reset), _lib.CLONE_FN(clone), _lib.DESTROY_FN(destroy))


def register_processors(plugin: str, defs: Sequence[ProcessorDef],
                        description: str = "processors written in Python") -> None:
    """Make processors written in Python usable by name in any chain spec of this process.

    Registration is permanent (like a plugin file's). Raises :class:`TextgenError`: TG_EEXISTS
    for a name already taken, TG_EPLUGIN for a bad schema (the message says which)."""
    vts = (_lib.ProcessorVtable * len(defs))()
    keep: List[object] = []
    for vt, d in zip(vts, defs):
        params = (_lib.ParamSpec * max(1, len(d.params)))()
        for spec, p in zip(params, d.params):
            spec.name = p.name.encode()
            spec.type = p.type
            spec.default_value = _lib.optional_bytes(p.default)
            spec.min, spec.max = p.min, p.max
            spec.doc = (p.doc or p.name).encode("utf-8")
        cbs = _callbacks(d)
        keep += [params, cbs]
        vt.struct_size = ctypes.sizeof(vt)
        vt.name = d.name.encode()
        vt.kind = d.kind
        vt.doc = d.doc.encode("utf-8")
        vt.params = params if d.params else None
        vt.n_params = len(d.params)
        vt.create, vt.apply, vt.accept, vt.reset, vt.clone, vt.destroy = cbs
    ptrs = (POINTER(_lib.ProcessorVtable) * len(defs))(*[ctypes.pointer(v) for v in vts])
    desc = _lib.PluginDesc()
    desc.abi_version = _lib.PLUGIN_ABI_VERSION
    desc.struct_size = ctypes.sizeof(desc)
    desc.name = plugin.encode()
    desc.version = version().encode()
    desc.license = b"MIT"
    desc.description = description.encode("utf-8")
    desc.processors = ptrs
    desc.n_processors = len(defs)
    _check(lib.tg_plugin_register(byref(desc), None))  # the library copies the structs
    _registered.append(keep)  # the callbacks must outlive every chain
