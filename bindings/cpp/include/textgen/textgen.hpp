// textgen.hpp — header-only C++17 binding of libtextgen (docs/bindings.md).
//
// RAII over every handle (move-only owners whose destructors call the matching tg_*_free),
// textgen::error (a std::runtime_error carrying the tg_status and tg_error_last(), read on the
// same thread right after the failing call), std::string_view in and std::string out, streaming
// into any callable (an exception thrown by it stops generation and is rethrown once tg_generate
// returns), and processors written in C++ registered from memory (textgen::register_plugin).
//
// Threading follows the C library: a textgen::model (and its tokenizer) is immutable and may be
// shared by any number of threads; a chain, session, generator or detokenizer belongs to one
// thread at a time.
#ifndef TEXTGEN_TEXTGEN_HPP
#define TEXTGEN_TEXTGEN_HPP

#include <textgen/textgen.h>

#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace textgen
{

// ---- errors ----------------------------------------------------------------------------------

/// A failed libtextgen call: its status (TG_E*) and the library's message.
class error : public std::runtime_error
{
  public:
    error(tg_status status, const std::string &message)
        : std::runtime_error(message), status_(status)
    {
    }
    tg_status status() const noexcept
    {
        return status_;
    }
    /// "TG_EINVAL: invalid argument" and the like.
    const char *status_name() const noexcept
    {
        return tg_status_str(status_);
    }

  private:
    tg_status status_;
};

/// Throw textgen::error for a failed status, with the calling thread's message.
inline void check(tg_status status)
{
    if (status != TG_OK) {
        const char *msg = tg_error_last();
        throw error(status, msg && *msg ? msg : tg_status_str(status));
    }
}

/// A non-owning view of contiguous elements (C++17 has no std::span).
template <typename T> class view
{
  public:
    view() = default;
    view(const T *data, size_t size) : data_(size ? data : nullptr), size_(size) {}
    view(const std::vector<T> &v) : data_(v.data()), size_(v.size()) {}
    const T *data() const noexcept
    {
        return data_;
    }
    size_t size() const noexcept
    {
        return size_;
    }
    bool empty() const noexcept
    {
        return size_ == 0;
    }
    const T &operator[](size_t i) const
    {
        return data_[i];
    }
    const T *begin() const noexcept
    {
        return data_;
    }
    const T *end() const noexcept
    {
        return data_ + size_;
    }
    std::vector<T> to_vector() const
    {
        return std::vector<T>(begin(), end());
    }

  private:
    const T *data_ = nullptr;
    size_t size_ = 0;
};

namespace detail
{
template <typename T, void (*Free)(T *)> struct deleter {
    void operator()(T *p) const noexcept
    {
        Free(p);
    }
};
template <typename T, void (*Free)(T *)> using owner = std::unique_ptr<T, deleter<T, Free>>;

inline void free_chars(char *p)
{
    tg_free(p);
}
using c_string = owner<char, free_chars>;

inline std::string nul_terminated(std::string_view s)
{
    return std::string(s);
}
} // namespace detail

// ---- paths and version -----------------------------------------------------------------------

/// The installed plugin folder, found relative to the loaded library (throws when missing).
inline std::string plugins_dir()
{
    const char *dir = nullptr;
    check(tg_plugins_dir(&dir));
    return dir;
}

/// The model folder used when none is named: $TEXTGEN_MODEL, else the bundled model.
inline std::string default_model_dir()
{
    const char *dir = nullptr;
    check(tg_default_model_dir(&dir));
    return dir;
}

inline std::string version()
{
    return tg_version_string();
}

// ---- tokenizer -------------------------------------------------------------------------------

/// A borrowed tokenizer (the model's, or one owned by a textgen::owned_tokenizer). Immutable:
/// any number of threads may use it at once.
class tokenizer
{
  public:
    explicit tokenizer(const tg_tokenizer *t) : t_(t) {}
    const tg_tokenizer *get() const noexcept
    {
        return t_;
    }

    std::vector<int32_t> encode(std::string_view text, uint32_t flags = 0) const
    {
        int32_t *ids = nullptr;
        size_t n = 0;
        check(tg_tokenizer_encode(&ids, &n, t_, text.data(), text.size(), flags));
        std::vector<int32_t> out(ids, ids + n);
        tg_free(ids);
        return out;
    }

    std::string decode(view<int32_t> ids, uint32_t flags = 0) const
    {
        char *text = nullptr;
        size_t len = 0;
        check(tg_tokenizer_decode(&text, &len, t_, ids.data(), ids.size(), flags));
        detail::c_string owned(text);
        return std::string(text, len);
    }

    int32_t n_vocab() const noexcept
    {
        return tg_tokenizer_n_vocab(t_);
    }
    int32_t bos() const noexcept
    {
        return tg_tokenizer_bos(t_);
    }
    int32_t eos() const noexcept
    {
        return tg_tokenizer_eos(t_);
    }

    std::string token_bytes(int32_t id) const
    {
        const char *bytes = nullptr;
        size_t len = 0;
        check(tg_tokenizer_token_to_bytes(&bytes, &len, t_, id));
        return std::string(bytes, len);
    }

  private:
    const tg_tokenizer *t_;
};

/// A tokenizer loaded on its own (tokenizer.json, or vocab.json + merges.txt).
class owned_tokenizer
{
  public:
    static owned_tokenizer load(std::string_view path)
    {
        tg_tokenizer *t = nullptr;
        check(tg_tokenizer_load(&t, detail::nul_terminated(path).c_str(), nullptr));
        return owned_tokenizer(t);
    }
    tokenizer get() const noexcept
    {
        return tokenizer(t_.get());
    }
    const tokenizer operator*() const noexcept
    {
        return get();
    }

  private:
    explicit owned_tokenizer(tg_tokenizer *t) : t_(t) {}
    detail::owner<tg_tokenizer, tg_tokenizer_free> t_;
};

/// Streaming detokenizer: ids in, complete UTF-8 chunks out. One thread at a time.
class detokenizer
{
  public:
    explicit detokenizer(const tokenizer &tok, uint32_t flags = 0)
    {
        tg_detokenizer *d = nullptr;
        check(tg_detokenizer_create(&d, tok.get(), flags));
        d_.reset(d);
    }
    std::string feed(int32_t id)
    {
        const char *text = nullptr;
        size_t len = 0;
        check(tg_detokenizer_feed(d_.get(), id, &text, &len));
        return std::string(text, len);
    }
    std::string flush()
    {
        const char *text = nullptr;
        size_t len = 0;
        check(tg_detokenizer_flush(d_.get(), &text, &len));
        return std::string(text, len);
    }

  private:
    detail::owner<tg_detokenizer, tg_detokenizer_free> d_;
};

// ---- model -----------------------------------------------------------------------------------

/// A loaded model: immutable, shared freely across threads; outlives what is made from it.
class model
{
  public:
    static model load(std::string_view dir, uint32_t weight_type = TG_WEIGHTS_AUTO,
                      uint32_t kv_type = TG_KV_AUTO)
    {
        tg_model_options o = TG_MODEL_OPTIONS_INIT;
        o.weight_type = weight_type;
        o.kv_type = kv_type;
        tg_model *m = nullptr;
        check(tg_model_load(&m, detail::nul_terminated(dir).c_str(), &o));
        return model(m);
    }
    /// $TEXTGEN_MODEL, else the bundled model installed with the library.
    static model load_default()
    {
        tg_model *m = nullptr;
        check(tg_model_load_default(&m, nullptr));
        return model(m);
    }

    const tg_model *get() const noexcept
    {
        return m_.get();
    }

    tg_model_info info() const
    {
        tg_model_info i = TG_MODEL_INFO_INIT;
        check(tg_model_get_info(&i, m_.get()));
        return i;
    }

    /// The model folder's tokenizer; throws when the folder has none.
    textgen::tokenizer tokenizer() const
    {
        const tg_tokenizer *t = tg_model_tokenizer(m_.get());
        if (!t)
            throw error(TG_ENOTFOUND,
                        std::string("the model folder '") + path() + "' has no tokenizer");
        return textgen::tokenizer(t);
    }

    std::string path() const
    {
        return tg_model_path(m_.get());
    }

    std::vector<int32_t> end_ids() const
    {
        const int32_t *ids = nullptr;
        size_t n = 0;
        check(tg_model_end_ids(&ids, &n, m_.get(), 0));
        return std::vector<int32_t>(ids, ids + n);
    }

  private:
    explicit model(tg_model *m) : m_(m) {}
    detail::owner<tg_model, tg_model_free> m_;
};

// ---- generation ------------------------------------------------------------------------------

/// Options of textgen::generate; the defaults are the C library's.
struct generate_options {
    std::string samplers;       ///< chain spec; empty: generation_config.json or greedy
    int32_t max_new_tokens = 0; ///< 0: the model's default (else 128); -1: the context
    std::vector<std::string> stop_strings;
    std::vector<int32_t> stop_tokens;
    double max_time_s = 0;
    uint64_t seed = 0;
    int32_t n_threads = 0;
    uint32_t flags = 0; ///< TG_GEN_*
    // Beam search (the C library's tg_generate_options): 0 or 1 beam is one sequence.
    int32_t num_beams = 0;            ///< B > 1: beam search with B beams
    int32_t num_return_sequences = 0; ///< sequences in the result, 1..B; 0 = 1
    int32_t early_stopping = 0;       ///< TG_EARLY_STOP_*
    /// Beam scorers, written like a chain spec ("length_penalty(alpha=2)",
    /// "diverse_groups(groups=2, penalty=0.5)"); empty: length_penalty(alpha=1)
    std::string beam_scorers;
};

/// One sequence of a result (plain data, copied out of it).
struct sequence {
    std::string text;             ///< generated text, without the prompt or a stop string
    std::vector<int32_t> tokens;  ///< generated ids
    std::vector<float> logprobs;  ///< per token: the score it added (beam search) or its logprob
    double score = 0;             ///< the scorer's final score (beam search) or the logprob sum
    int32_t stop_reason = 0;      ///< TG_STOP_* that ended this sequence
    std::string stop_reason_name; ///< "eos", "max_tokens", ...
};

/// Timing of a generation.
using timing = tg_timing;

/// The outcome of a generation (immutable).
class result
{
  public:
    explicit result(tg_result *r) : r_(r) {}
    const tg_result *get() const noexcept
    {
        return r_.get();
    }

    std::string text() const
    {
        size_t len = 0;
        const char *t = tg_result_text(r_.get(), &len);
        return std::string(t, len);
    }
    view<int32_t> tokens() const
    {
        size_t n = 0;
        const int32_t *ids = tg_result_tokens(r_.get(), &n);
        return view<int32_t>(ids, n);
    }
    view<float> logprobs() const
    {
        size_t n = 0;
        const float *lp = tg_result_logprobs(r_.get(), &n);
        return view<float>(lp, n);
    }
    view<int32_t> prompt_tokens() const
    {
        size_t n = 0;
        const int32_t *ids = tg_result_prompt_tokens(r_.get(), &n);
        return view<int32_t>(ids, n);
    }
    int32_t stop_reason() const noexcept
    {
        return tg_result_stop_reason(r_.get());
    }
    std::string stop_reason_name() const
    {
        return tg_stop_reason_str(stop_reason());
    }
    /// Sequences in the result, best first: 1 without beam search.
    size_t n_sequences() const noexcept
    {
        return tg_result_n_sequences(r_.get());
    }
    /// Beams the search ran with (the options', else generation_config.json's): 1 without.
    int32_t num_beams() const noexcept
    {
        return tg_result_num_beams(r_.get());
    }
    /// The beam scorers the search ran with, every parameter written out; "" without beams.
    std::string beam_scorers() const
    {
        const char *s = tg_result_beam_scorers(r_.get());
        return s ? s : "";
    }
    /// Sequence `index` (0 is the best, the one text() and tokens() describe).
    sequence sequence_at(size_t index) const
    {
        if (index >= n_sequences())
            throw error(TG_ERANGE, "result: sequence " + std::to_string(index) +
                                       " is out of range (the result has " +
                                       std::to_string(n_sequences()) + ")");
        sequence s;
        size_t len = 0, n = 0, n_lp = 0;
        const char *t = tg_result_sequence_text(r_.get(), index, &len);
        s.text.assign(t, len);
        const int32_t *ids = tg_result_sequence_tokens(r_.get(), index, &n);
        s.tokens.assign(ids, ids + n);
        const float *lp = tg_result_sequence_logprobs(r_.get(), index, &n_lp);
        s.logprobs.assign(lp, lp + n_lp);
        s.score = tg_result_sequence_score(r_.get(), index);
        s.stop_reason = tg_result_sequence_stop_reason(r_.get(), index);
        s.stop_reason_name = tg_stop_reason_str(s.stop_reason);
        return s;
    }
    /// Every sequence, best first.
    std::vector<sequence> sequences() const
    {
        std::vector<sequence> all;
        for (size_t i = 0; i < n_sequences(); i++)
            all.push_back(sequence_at(i));
        return all;
    }
    timing time() const
    {
        timing t = TG_TIMING_INIT;
        check(tg_result_timing(&t, r_.get()));
        return t;
    }

  private:
    detail::owner<tg_result, tg_result_free> r_;
};

namespace detail
{
// The C strings and arrays tg_generate_options points into, kept alive by the caller's frame.
struct c_generate_options {
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    std::vector<const char *> stops;

    explicit c_generate_options(const generate_options &opts)
    {
        o.samplers = opts.samplers.empty() ? nullptr : opts.samplers.c_str();
        o.max_new_tokens = opts.max_new_tokens;
        for (const std::string &s : opts.stop_strings)
            stops.push_back(s.c_str());
        o.stop_strings = stops.empty() ? nullptr : stops.data();
        o.n_stop_strings = stops.size();
        o.stop_tokens = opts.stop_tokens.empty() ? nullptr : opts.stop_tokens.data();
        o.n_stop_tokens = opts.stop_tokens.size();
        o.max_time_s = opts.max_time_s;
        o.seed = opts.seed;
        o.n_threads = opts.n_threads;
        o.flags = opts.flags;
        o.num_beams = opts.num_beams;
        o.num_return_sequences = opts.num_return_sequences;
        o.early_stopping = opts.early_stopping;
        o.beam_scorers = opts.beam_scorers.empty() ? nullptr : opts.beam_scorers.c_str();
    }
};

// Streaming into a callable: returns true to go on. A callable returning void always goes on.
struct stream_state {
    std::function<bool(std::string_view, view<int32_t>)> fn;
    std::exception_ptr failure;

    static int32_t call(const char *text, size_t len, const int32_t *ids, size_t n_ids,
                        void *user) noexcept
    {
        auto *self = static_cast<stream_state *>(user);
        if (self->failure)
            return 1; // the flush after a stop request goes nowhere: we are unwinding
        try {
            return self->fn(std::string_view(text, len), view<int32_t>(ids, n_ids)) ? 0 : 1;
        } catch (...) {
            self->failure = std::current_exception();
            return 1;
        }
    }
};

template <typename F> std::function<bool(std::string_view, view<int32_t>)> stream_fn(F &&f)
{
    using R = std::invoke_result_t<F &, std::string_view, view<int32_t>>;
    if constexpr (std::is_void_v<R>)
        return [f = std::forward<F>(f)](std::string_view t, view<int32_t> ids) mutable {
            f(t, ids);
            return true;
        };
    else
        return [f = std::forward<F>(f)](std::string_view t, view<int32_t> ids) mutable {
            return static_cast<bool>(f(t, ids));
        };
}
} // namespace detail

/// Generate a continuation of `prompt`.
inline result generate(const model &m, std::string_view prompt, const generate_options &opts = {})
{
    detail::c_generate_options c(opts);
    tg_result *r = nullptr;
    check(tg_generate(&r, m.get(), detail::nul_terminated(prompt).c_str(), &c.o));
    return result(r);
}

/// Generate, streaming each piece of text (valid UTF-8) and the ids completed with it into
/// `on_text(std::string_view, view<int32_t>)`. It returns void, or bool (false stops, reason
/// TG_STOP_CALLBACK). An exception it throws stops generation and is rethrown here.
template <typename F>
result generate(const model &m, std::string_view prompt, const generate_options &opts, F &&on_text)
{
    detail::c_generate_options c(opts);
    detail::stream_state stream{detail::stream_fn(std::forward<F>(on_text)), nullptr};
    c.o.on_text = &detail::stream_state::call;
    c.o.user_data = &stream;
    tg_result *r = nullptr;
    tg_status st = tg_generate(&r, m.get(), detail::nul_terminated(prompt).c_str(), &c.o);
    result res(r);
    if (stream.failure)
        std::rethrow_exception(stream.failure);
    check(st);
    return res;
}

/// One token at a time. One thread at a time.
class generator
{
  public:
    generator(const model &m, std::string_view prompt, const generate_options &opts = {})
    {
        detail::c_generate_options c(opts);
        tg_generator *g = nullptr;
        check(tg_generator_create(&g, m.get(), detail::nul_terminated(prompt).c_str(), &c.o));
        g_.reset(g);
    }

    struct step {
        int32_t token;    ///< -1 once generation had already ended
        std::string text; ///< text released by this step (may be empty)
        int32_t stop;     ///< TG_STOP_* once ended, else TG_STOP_NONE
    };

    step next()
    {
        int32_t token = -1, stop = 0;
        const char *text = nullptr;
        size_t len = 0;
        check(tg_generator_next(&token, &text, &len, &stop, g_.get()));
        return step{token, std::string(text ? text : "", len), stop};
    }

    result current() const
    {
        tg_result *r = nullptr;
        check(tg_generator_result(&r, g_.get()));
        return result(r);
    }

  private:
    detail::owner<tg_generator, tg_generator_free> g_;
};

// ---- sampler chains --------------------------------------------------------------------------

/// A sampler chain: the stages and the state of one sequence. One thread at a time.
class chain
{
  public:
    /// Parse a spec for `m`'s vocabulary, end ids and tokenizer.
    static chain parse(std::string_view spec, const model &m, uint64_t seed = 0)
    {
        tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
        o.model = m.get();
        o.seed = seed;
        return parse_with(spec, o);
    }
    /// Parse a spec for a bare vocabulary of n_vocab ids.
    static chain parse(std::string_view spec, int32_t n_vocab, uint64_t seed = 0)
    {
        tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
        o.n_vocab = n_vocab;
        o.seed = seed;
        return parse_with(spec, o);
    }

    tg_chain *get() const noexcept
    {
        return c_.get();
    }

    void add(std::string_view name, std::string_view params = {})
    {
        check(tg_chain_add(c_.get(), detail::nul_terminated(name).c_str(),
                           detail::nul_terminated(params).c_str()));
    }
    std::string spec() const
    {
        char *s = nullptr;
        check(tg_chain_print(&s, c_.get()));
        detail::c_string owned(s);
        return s;
    }
    size_t size() const noexcept
    {
        return tg_chain_length(c_.get());
    }
    void set_prompt(view<int32_t> ids)
    {
        check(tg_chain_set_prompt(c_.get(), ids.data(), ids.size()));
    }
    /// Run every stage on n_vocab logits; returns the chosen id (not accepted yet).
    int32_t sample(const float *logits, float *logprob = nullptr)
    {
        int32_t token = -1;
        check(tg_chain_sample(&token, logprob, c_.get(), logits));
        return token;
    }
    void accept(int32_t token)
    {
        check(tg_chain_accept(c_.get(), token));
    }
    void reset()
    {
        check(tg_chain_reset(c_.get()));
    }
    chain clone() const
    {
        tg_chain *d = nullptr;
        check(tg_chain_clone(&d, c_.get()));
        return chain(d);
    }

  private:
    explicit chain(tg_chain *c) : c_(c) {}
    static chain parse_with(std::string_view spec, const tg_chain_options &o)
    {
        tg_chain *c = nullptr;
        check(tg_chain_parse(&c, detail::nul_terminated(spec).c_str(), &o));
        return chain(c);
    }
    detail::owner<tg_chain, tg_chain_free> c_;
};

// ---- processors written in C++ ---------------------------------------------------------------

/// The candidates a processor rewrites (the host's arrays; see <textgen/plugin.h>).
class candidates
{
  public:
    explicit candidates(tg_candidates *c) : c_(c) {}
    tg_candidates *get() const noexcept
    {
        return c_;
    }
    size_t size() const noexcept
    {
        return c_->size;
    }
    int32_t id(size_t i) const
    {
        return c_->ids[i];
    }
    float logit(size_t i) const
    {
        return c_->logits[i];
    }
    /// Change a logit: probabilities and the sorted prefix are no longer known.
    void set_logit(size_t i, float v)
    {
        c_->logits[i] = v;
        c_->probs_valid = 0;
        c_->sorted = 0;
    }
    void softmax()
    {
        check(tg_candidates_softmax(c_));
    }
    float prob(size_t i) const
    {
        return c_->probs[i];
    }
    void sort(size_t k)
    {
        check(tg_candidates_sort(c_, k));
    }
    void truncate(size_t n)
    {
        check(tg_candidates_truncate(c_, n));
    }
    /// Keep the entries for which keep(id, logit) is true (stable; never empties the set).
    template <typename F> void keep_if(F &&keep)
    {
        auto pred = [](const tg_candidates *c, size_t i, void *user) -> int32_t {
            return (*static_cast<F *>(user))(c->ids[i], c->logits[i]) ? 1 : 0;
        };
        check(tg_candidates_keep_if(c_, pred, &keep));
    }
    void select(size_t i)
    {
        c_->selected = static_cast<int32_t>(i);
    }

  private:
    tg_candidates *c_;
};

/// A processor state. Override apply; the rest is optional.
class processor
{
  public:
    virtual ~processor() = default;
    virtual void apply(candidates &c, const tg_step_info &step) = 0;
    virtual void accept(int32_t /*token*/, const tg_step_info & /*step*/) {}
    virtual void reset() {}
    /// A deep copy, for tg_chain_clone (beam search clones the chain for every beam). The
    /// default (nullptr) refuses: the clone fails with TG_EUNSUPPORTED naming the processor.
    virtual std::unique_ptr<processor> clone() const
    {
        return nullptr;
    }
};

/// One parameter of a processor's schema.
struct param {
    std::string name;
    uint32_t type = TG_PARAM_FLOAT; ///< TG_PARAM_*
    std::string default_value;      ///< parsed like a user value
    double min = 0, max = 0;
    std::string doc;
};

/// A processor written in C++: its schema and a factory making a state from parsed values.
struct processor_def {
    std::string name;
    uint32_t kind = TG_PROC_TRANSFORM; ///< TG_PROC_TRANSFORM, _FILTER or _SELECTOR
    std::string doc;
    std::vector<param> params;
    std::function<std::unique_ptr<processor>(const tg_param_value *values,
                                             const tg_proc_context &ctx)>
        create;
};

namespace detail
{
template <typename F> tg_status guarded(const std::string &name, F &&f) noexcept
{
    try {
        f();
        return TG_OK;
    } catch (const error &e) {
        return tg_plugin_set_error(e.status(), e.what());
    } catch (const std::exception &e) {
        return tg_plugin_set_error(TG_EUSER, (name + ": " + e.what()).c_str());
    } catch (...) {
        return tg_plugin_set_error(TG_EUSER, (name + ": unknown C++ exception").c_str());
    }
}

// Per processor: its definition, reached through tg_proc_context.user_data... but user data
// belongs to the whole plugin, so the plugin's user data is the list of definitions and each
// state remembers its processor.
struct plugin_data {
    std::vector<processor_def> defs;
};

struct state {
    const processor_def *def;
    std::unique_ptr<processor> p;
};

template <size_t I> struct trampolines {
    static tg_status create(void **out, const tg_param_value *values,
                            const tg_proc_context *ctx) noexcept
    {
        const auto *data = static_cast<const plugin_data *>(ctx->user_data);
        const processor_def &def = data->defs[I];
        return guarded(def.name, [&] {
            auto s = std::make_unique<state>(state{&def, def.create(values, *ctx)});
            if (!s->p)
                throw error(TG_EUSER, def.name + ": create returned no processor");
            *out = s.release();
        });
    }
};

inline tg_status apply(void *st, tg_candidates *c, const tg_step_info *step) noexcept
{
    auto *s = static_cast<state *>(st);
    return guarded(s->def->name, [&] {
        candidates view(c);
        s->p->apply(view, *step);
    });
}
inline tg_status accept(void *st, int32_t token, const tg_step_info *step) noexcept
{
    auto *s = static_cast<state *>(st);
    return guarded(s->def->name, [&] { s->p->accept(token, *step); });
}
inline void reset(void *st) noexcept
{
    auto *s = static_cast<state *>(st);
    try {
        s->p->reset();
    } catch (...) {
        // reset cannot fail in the C ABI; a throwing reset keeps the old state
    }
}
inline tg_status clone(void **out, const void *st) noexcept
{
    const auto *s = static_cast<const state *>(st);
    return guarded(s->def->name, [&] {
        std::unique_ptr<processor> copy = s->p->clone();
        if (!copy)
            throw error(TG_EUNSUPPORTED, s->def->name +
                                             ": this processor keeps state and cannot be cloned "
                                             "(override processor::clone)");
        *out = new state{s->def, std::move(copy)};
    });
}
inline void destroy(void *st) noexcept
{
    delete static_cast<state *>(st);
}

using create_fn = tg_status (*)(void **, const tg_param_value *, const tg_proc_context *);
template <size_t... I> constexpr auto create_table(std::index_sequence<I...>)
{
    return std::array<create_fn, sizeof...(I)>{&trampolines<I>::create...};
}
constexpr size_t max_processors = 16;
} // namespace detail

/// Register processors written in C++ as plugin `plugin_name` (process-wide, permanent: the
/// definitions live until the process exits). Afterwards their names work in any chain spec.
/// Throws textgen::error (TG_EEXISTS for a taken name, TG_EPLUGIN for a bad schema).
inline void register_plugin(std::string_view plugin_name, std::vector<processor_def> defs,
                            std::string_view description = "processors written in C++")
{
    if (defs.empty() || defs.size() > detail::max_processors)
        throw error(TG_EINVAL, "register_plugin: give 1 to 16 processors");
    static constexpr auto creates =
        detail::create_table(std::make_index_sequence<detail::max_processors>{});
    // Leaked on purpose: the registry may call these for the life of the process.
    auto *data = new detail::plugin_data{std::move(defs)};
    std::vector<std::vector<tg_param_spec>> params(data->defs.size());
    std::vector<tg_processor_vtable> vts(data->defs.size());
    std::vector<const tg_processor_vtable *> list;
    for (size_t i = 0; i < data->defs.size(); i++) {
        const processor_def &d = data->defs[i];
        for (const param &p : d.params)
            params[i].push_back(tg_param_spec{p.name.c_str(), p.type, p.default_value.c_str(),
                                              p.min, p.max, p.doc.c_str()});
        tg_processor_vtable &vt = vts[i];
        vt = tg_processor_vtable{};
        vt.struct_size = TG_PROCESSOR_VTABLE_SIZE;
        vt.name = d.name.c_str();
        vt.kind = d.kind;
        vt.doc = d.doc.c_str();
        vt.params = params[i].empty() ? nullptr : params[i].data();
        vt.n_params = params[i].size();
        vt.create = creates[i];
        vt.apply = &detail::apply;
        vt.accept = &detail::accept;
        vt.reset = &detail::reset;
        vt.clone = &detail::clone;
        vt.destroy = &detail::destroy;
        list.push_back(&vt);
    }
    const std::string name(plugin_name), desc_text(description);
    tg_plugin_desc desc{};
    desc.abi_version = TG_PLUGIN_ABI_VERSION;
    desc.struct_size = TG_U32(sizeof desc);
    desc.name = name.c_str();
    desc.version = TG_VERSION_STRING;
    desc.license = "MIT";
    desc.description = desc_text.c_str();
    desc.processors = list.data();
    desc.n_processors = list.size();
    tg_status st = tg_plugin_register(&desc, data); // copies every struct and string
    if (st != TG_OK) {
        delete data;
        check(st);
    }
}

} // namespace textgen

#endif // TEXTGEN_TEXTGEN_HPP
