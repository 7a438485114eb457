"""The C library through ctypes: finding libtextgen, the struct layouts, the function signatures.

Every struct that crosses the ABI with a leading ``struct_size`` is declared here exactly as the
public headers declare it; option structs are initialised with the library's own
``tg_x_options_init(opts, sizeof(opts))`` (docs/abi.md, "Structs that grow"), so a field this
module does not set keeps the library's default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int32,
                    c_int64, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)
from typing import Optional

tg_status = c_int32


def _candidates_paths() -> list:
    """Where to look for libtextgen.so.0, best first."""
    paths = []
    env = os.environ.get("TEXTGEN_LIBRARY")
    if env:
        paths.append(env)
    if shutil.which("pkg-config"):
        try:
            libdir = subprocess.run(["pkg-config", "--variable=libdir", "textgen"],
                                    capture_output=True, text=True, check=True).stdout.strip()
            if libdir:
                paths.append(os.path.join(libdir, "libtextgen.so.0"))
        except (OSError, subprocess.CalledProcessError):
            pass
    found = ctypes.util.find_library("textgen")
    if found:
        paths.append(found)
    paths.append("libtextgen.so.0")
    return paths


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates_paths():
        try:
            # ctypes.CDLL releases the GIL around every call into the library.
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("libtextgen not found (set TEXTGEN_LIBRARY, or PKG_CONFIG_PATH so that "
                      "`pkg-config --variable=libdir textgen` finds it); tried:\n  "
                      + "\n  ".join(errors))


lib = _load()

# ---- structs (x86_64 and every LP64 platform: ctypes computes the same layout as the C compiler)


class ModelOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("weight_type", c_uint32), ("kv_type", c_uint32)]


class ModelInfo(Structure):
    _fields_ = [("struct_size", c_uint32), ("n_vocab", c_int32), ("n_ctx", c_int32),
                ("n_layer", c_int32), ("n_head", c_int32), ("n_embd", c_int32),
                ("n_inner", c_int32), ("bos_id", c_int32), ("eos_id", c_int32),
                ("weight_type", c_uint32), ("n_params", c_uint64), ("weight_bytes", c_uint64),
                ("kv_type", c_uint32)]


STREAM_FN = CFUNCTYPE(c_int32, c_void_p, c_size_t, POINTER(c_int32), c_size_t, c_void_p)


class GenerateOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("samplers", c_char_p), ("max_new_tokens", c_int32),
                ("stop_strings", POINTER(c_char_p)), ("n_stop_strings", c_size_t),
                ("stop_tokens", POINTER(c_int32)), ("n_stop_tokens", c_size_t),
                ("max_time_s", c_double), ("seed", c_uint64), ("n_threads", c_int32),
                ("flags", c_uint32), ("on_text", STREAM_FN), ("user_data", c_void_p),
                ("num_beams", c_int32), ("num_return_sequences", c_int32),
                ("early_stopping", c_int32), ("trace_top_n", c_uint32),
                ("beam_scorers", c_char_p), ("on_trace", c_void_p), ("trace_user_data", c_void_p),
                ("trace_steps", c_int32)]


class Timing(Structure):
    _fields_ = [("struct_size", c_uint32), ("prompt_s", c_double), ("generate_s", c_double),
                ("sample_s", c_double), ("n_prompt", c_int32), ("n_generated", c_int32)]


class ChainOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("n_vocab", c_int32), ("model", c_void_p),
                ("eos_ids", POINTER(c_int32)), ("n_eos", c_size_t), ("seed", c_uint64)]


class Candidates(Structure):
    _fields_ = [("struct_size", c_uint32), ("n_vocab", c_int32), ("ids", POINTER(c_int32)),
                ("logits", POINTER(c_float)), ("probs", POINTER(c_float)), ("size", c_size_t),
                ("capacity", c_size_t), ("sorted", c_size_t), ("probs_valid", c_int32),
                ("selected", c_int32)]


class StepInfo(Structure):
    _fields_ = [("struct_size", c_uint32), ("seed", c_uint64), ("sequence", c_int32),
                ("step", c_int32), ("tokens", POINTER(c_int32)), ("n_tokens", c_size_t),
                ("n_prompt", c_size_t)]


class ProcContext(Structure):
    _fields_ = [("struct_size", c_uint32), ("n_vocab", c_int32), ("eos_ids", POINTER(c_int32)),
                ("n_eos", c_size_t), ("tokenizer", c_void_p), ("user_data", c_void_p)]


class ParamSpec(Structure):
    _fields_ = [("name", c_char_p), ("type", c_uint32), ("default_value", c_char_p),
                ("min", c_double), ("max", c_double), ("doc", c_char_p)]


class ParamValue(Structure):
    _fields_ = [("number", c_double), ("integer", c_int64), ("string", c_char_p),
                ("ids", POINTER(c_int32)), ("n_ids", c_size_t), ("seq_ends", POINTER(c_size_t)),
                ("n_seqs", c_size_t)]


CREATE_FN = CFUNCTYPE(tg_status, POINTER(c_void_p), POINTER(ParamValue), POINTER(ProcContext))
APPLY_FN = CFUNCTYPE(tg_status, c_void_p, POINTER(Candidates), POINTER(StepInfo))
ACCEPT_FN = CFUNCTYPE(tg_status, c_void_p, c_int32, POINTER(StepInfo))
RESET_FN = CFUNCTYPE(None, c_void_p)
CLONE_FN = CFUNCTYPE(tg_status, POINTER(c_void_p), c_void_p)
DESTROY_FN = CFUNCTYPE(None, c_void_p)
PRED_FN = CFUNCTYPE(c_int32, POINTER(Candidates), c_size_t, c_void_p)


class ProcessorVtable(Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p), ("kind", c_uint32),
                ("doc", c_char_p), ("params", POINTER(ParamSpec)), ("n_params", c_size_t),
                ("create", CREATE_FN), ("apply", APPLY_FN), ("accept", ACCEPT_FN),
                ("reset", RESET_FN), ("clone", CLONE_FN), ("destroy", DESTROY_FN),
                ("save", c_void_p), ("load", c_void_p), ("check_stop", c_void_p),
                ("reserved", c_void_p * 4), ("scorer", c_void_p)]


class PluginDesc(Structure):
    _fields_ = [("abi_version", c_uint32), ("struct_size", c_uint32), ("name", c_char_p),
                ("version", c_char_p), ("license", c_char_p), ("description", c_char_p),
                ("processors", POINTER(POINTER(ProcessorVtable))), ("n_processors", c_size_t),
                ("reserved", c_void_p * 4)]


PLUGIN_ABI_VERSION = 1

# ---- functions


def _fn(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


P = POINTER
_fn("tg_error_last", c_char_p)
_fn("tg_error_last_status", tg_status)
_fn("tg_status_str", c_char_p, tg_status)
_fn("tg_free", None, c_void_p)
_fn("tg_version_string", c_char_p)
_fn("tg_plugins_dir", tg_status, P(c_char_p))
_fn("tg_default_model_dir", tg_status, P(c_char_p))
_fn("tg_model_options_init", tg_status, P(ModelOptions), c_uint32)
_fn("tg_model_load", tg_status, P(c_void_p), c_char_p, P(ModelOptions))
_fn("tg_model_load_default", tg_status, P(c_void_p), P(ModelOptions))
_fn("tg_model_free", None, c_void_p)
_fn("tg_model_get_info", tg_status, P(ModelInfo), c_void_p)
_fn("tg_model_tokenizer", c_void_p, c_void_p)
_fn("tg_model_path", c_char_p, c_void_p)
_fn("tg_tokenizer_n_vocab", c_int32, c_void_p)
_fn("tg_tokenizer_encode", tg_status, P(P(c_int32)), P(c_size_t), c_void_p, c_char_p, c_size_t,
    c_uint32)
_fn("tg_tokenizer_decode", tg_status, P(c_void_p), P(c_size_t), c_void_p, P(c_int32), c_size_t,
    c_uint32)
_fn("tg_generate_options_init", tg_status, P(GenerateOptions), c_uint32)
_fn("tg_generate", tg_status, P(c_void_p), c_void_p, c_char_p, P(GenerateOptions))
_fn("tg_result_text", c_void_p, c_void_p, P(c_size_t))
_fn("tg_result_tokens", P(c_int32), c_void_p, P(c_size_t))
_fn("tg_result_logprobs", P(c_float), c_void_p, P(c_size_t))
_fn("tg_result_prompt_tokens", P(c_int32), c_void_p, P(c_size_t))
_fn("tg_result_stop_reason", c_int32, c_void_p)
_fn("tg_stop_reason_str", c_char_p, c_int32)
_fn("tg_result_timing", tg_status, P(Timing), c_void_p)
_fn("tg_result_free", None, c_void_p)
_fn("tg_result_n_sequences", c_size_t, c_void_p)
_fn("tg_result_num_beams", c_int32, c_void_p)
_fn("tg_result_beam_scorers", c_char_p, c_void_p)
_fn("tg_result_sequence_text", c_void_p, c_void_p, c_size_t, P(c_size_t))
_fn("tg_result_sequence_tokens", P(c_int32), c_void_p, c_size_t, P(c_size_t))
_fn("tg_result_sequence_logprobs", P(c_float), c_void_p, c_size_t, P(c_size_t))
_fn("tg_result_sequence_score", c_double, c_void_p, c_size_t)
_fn("tg_result_sequence_stop_reason", c_int32, c_void_p, c_size_t)
_fn("tg_generator_create", tg_status, P(c_void_p), c_void_p, c_char_p, P(GenerateOptions))
_fn("tg_generator_next", tg_status, P(c_int32), P(c_void_p), P(c_size_t), P(c_int32), c_void_p)
_fn("tg_generator_result", tg_status, P(c_void_p), c_void_p)
_fn("tg_generator_free", None, c_void_p)
_fn("tg_chain_options_init", tg_status, P(ChainOptions), c_uint32)
_fn("tg_chain_parse", tg_status, P(c_void_p), c_char_p, P(ChainOptions))
_fn("tg_chain_print", tg_status, P(c_void_p), c_void_p)
_fn("tg_chain_sample", tg_status, P(c_int32), P(c_float), c_void_p, P(c_float))
_fn("tg_chain_accept", tg_status, c_void_p, c_int32)
_fn("tg_chain_free", None, c_void_p)
_fn("tg_candidates_sort", tg_status, P(Candidates), c_size_t)
_fn("tg_candidates_softmax", tg_status, P(Candidates))
_fn("tg_candidates_truncate", tg_status, P(Candidates), c_size_t)
_fn("tg_candidates_keep", tg_status, P(Candidates), P(c_uint8))
_fn("tg_candidates_keep_if", tg_status, P(Candidates), PRED_FN, c_void_p)
_fn("tg_plugin_set_error", tg_status, tg_status, c_char_p)
_fn("tg_plugin_register", tg_status, P(PluginDesc), c_void_p)


def error_message() -> str:
    """The calling thread's last error (read right after the failing call, same thread)."""
    return (lib.tg_error_last() or b"").decode("utf-8", "replace")


def status_name(status: int) -> str:
    return (lib.tg_status_str(status) or b"").decode()


def init_struct(fn, struct_type):
    """A struct of this module's layout filled with the library's defaults for its size."""
    s = struct_type()
    st = fn(ctypes.byref(s), ctypes.sizeof(s))
    if st != 0:
        raise RuntimeError("%s refused %s (%d bytes): %s"
                           % (fn.__name__, struct_type.__name__, ctypes.sizeof(s),
                              error_message()))
    return s


def optional_bytes(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else text.encode("utf-8")
