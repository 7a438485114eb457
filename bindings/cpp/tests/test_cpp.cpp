// test_cpp.cpp — the C++ binding against the bundled model ($TEXTGEN_MODEL): load, tokenizer
// round trip, greedy ids equal to a raw C session's argmax, streaming equal to the result,
// exceptions out of the stream callable, beam search equal to the C library's sequences,
// errors under concurrency, a processor written in C++
// in a chain next to built-ins, and RAII (the ASan build of `scripts/setup.sh sanitize` checks
// that every handle is freed). Prints "N passed, N failed".
#include <textgen/textgen.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace
{

int passed = 0, failed = 0;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            throw std::runtime_error(std::string(__FILE__ ":") + std::to_string(__LINE__) +        \
                                     ": expected " #cond);                                         \
    } while (0)

void run(const char *name, const std::function<void()> &fn)
{
    try {
        fn();
        passed++;
        std::printf("ok   %s\n", name);
    } catch (const std::exception &e) {
        failed++;
        std::printf("FAIL %s: %s\n", name, e.what());
    }
}

const char *const prompt = "ROMEO:\nShall I";

// The C library's own answer: argmax of the logits of a raw session, token by token.
std::vector<int32_t> c_greedy(const tg_model *m, const std::vector<int32_t> &ids, int n_new)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    textgen::check(tg_model_get_info(&info, m));
    tg_session *s = nullptr;
    textgen::check(tg_session_create(&s, m, nullptr));
    std::vector<tg_batch_row> rows;
    for (size_t i = 0; i < ids.size(); i++)
        rows.push_back(tg_batch_row{ids[i], static_cast<int32_t>(i), 0, i + 1 == ids.size()});
    std::vector<int32_t> out;
    tg_status st = tg_session_decode(s, rows.data(), rows.size());
    size_t row = rows.size() - 1;
    for (int k = 0; st == TG_OK && k < n_new; k++) {
        const float *logits = nullptr;
        if ((st = tg_session_logits(&logits, s, row)) != TG_OK)
            break;
        int32_t best =
            static_cast<int32_t>(std::max_element(logits, logits + info.n_vocab) - logits);
        out.push_back(best);
        tg_batch_row next{best, static_cast<int32_t>(ids.size() + out.size() - 1), 0, 1};
        st = tg_session_decode(s, &next, 1);
        row = 0;
    }
    tg_session_free(s);
    textgen::check(st);
    return out;
}

// A C++ processor: bans one id (the user's choice, through a parameter).
class ban_id : public textgen::processor
{
  public:
    explicit ban_id(int32_t id) : id_(id) {}
    void apply(textgen::candidates &c, const tg_step_info &) override
    {
        for (size_t i = 0; i < c.size(); i++)
            if (c.id(i) == id_)
                c.set_logit(i, -INFINITY);
    }
    void accept(int32_t token, const tg_step_info &) override
    {
        seen_ += token == id_;
    }
    std::unique_ptr<textgen::processor> clone() const override
    {
        return std::make_unique<ban_id>(*this);
    }

  private:
    int32_t id_;
    int seen_ = 0;
};

std::atomic<int> cpp_creates{0};

void register_cpp_processors() // once per process: a second registration is refused
{
    static bool registered = false;
    if (registered)
        return;
    registered = true;
    textgen::processor_def ban;
    ban.name = "cpp_ban_id";
    ban.kind = TG_PROC_TRANSFORM;
    ban.doc = "ban one token id (written in C++)";
    ban.params = {{"id", TG_PARAM_INT, "0", 0, 1e9, "the id banned"}};
    ban.create = [](const tg_param_value *v, const tg_proc_context &ctx) {
        if (v[0].integer >= ctx.n_vocab)
            throw textgen::error(TG_ERANGE, "cpp_ban_id: id " + std::to_string(v[0].integer) +
                                                " is outside the vocabulary");
        cpp_creates++;
        return std::make_unique<ban_id>(static_cast<int32_t>(v[0].integer));
    };
    textgen::register_plugin("cpp_test_procs", {ban});
}

} // namespace

int main()
{
    run("load the bundled model", [] {
        auto m = textgen::model::load_default();
        auto info = m.info();
        EXPECT(info.n_vocab == 65);
        EXPECT(m.tokenizer().n_vocab() == 65);
        EXPECT(!textgen::version().empty());
    });

    run("tokenizer round trip", [] {
        auto m = textgen::model::load_default();
        auto tok = m.tokenizer();
        const std::string text = "ROMEO: But soft! what light through yonder window breaks?";
        auto ids = tok.encode(text);
        EXPECT(ids.size() == text.size()); // one id per character
        EXPECT(tok.decode(ids) == text);
        textgen::detokenizer d(tok);
        std::string streamed;
        for (int32_t id : ids)
            streamed += d.feed(id);
        streamed += d.flush();
        EXPECT(streamed == text);
    });

    run("greedy continuation equals the C library's ids", [] {
        auto m = textgen::model::load_default();
        textgen::generate_options o;
        o.samplers = "greedy";
        o.max_new_tokens = 24;
        o.flags = TG_GEN_IGNORE_EOS;
        auto r = textgen::generate(m, prompt, o);
        auto want = c_greedy(m.get(), m.tokenizer().encode(prompt), 24);
        EXPECT(r.tokens().to_vector() == want);
        EXPECT(r.prompt_tokens().to_vector() == m.tokenizer().encode(prompt));
        EXPECT(r.stop_reason() == TG_STOP_MAX_TOKENS);
        EXPECT(r.text() == m.tokenizer().decode(want));
        EXPECT(r.num_beams() == 1 && r.beam_scorers().empty());
    });

    run("streaming concatenation equals the result", [] {
        auto m = textgen::model::load_default();
        textgen::generate_options o;
        o.samplers = "top_k(k=20) temperature(t=0.9) dist";
        o.max_new_tokens = 40;
        o.seed = 7;
        std::string text;
        std::vector<int32_t> ids;
        auto r = textgen::generate(m, prompt, o, [&](std::string_view t, textgen::view<int32_t> v) {
            text += t;
            ids.insert(ids.end(), v.begin(), v.end());
        });
        EXPECT(text == r.text());
        EXPECT(ids == r.tokens().to_vector());
        EXPECT(r.tokens().size() == 40);
        EXPECT(r.logprobs().size() == 40);
        auto again = textgen::generate(m, prompt, o); // same seed, same text
        EXPECT(again.text() == r.text());
    });

    run("the stream callable stops generation: false, or an exception rethrown", [] {
        auto m = textgen::model::load_default();
        textgen::generate_options o;
        o.samplers = "greedy";
        o.max_new_tokens = 50;
        int calls = 0;
        auto r = textgen::generate(
            m, prompt, o, [&](std::string_view, textgen::view<int32_t>) { return ++calls < 5; });
        EXPECT(r.stop_reason() == TG_STOP_CALLBACK);
        EXPECT(r.tokens().size() == 5);
        struct boom : std::runtime_error {
            boom() : std::runtime_error("boom from the callable") {}
        };
        calls = 0;
        bool caught = false;
        try {
            textgen::generate(m, prompt, o, [&](std::string_view, textgen::view<int32_t>) {
                if (++calls == 3)
                    throw boom();
            });
        } catch (const boom &) {
            caught = true;
        }
        EXPECT(caught);
        EXPECT(calls == 3);
    });

    run("beam search equals the C library's sequences (ids, scores, stop reasons)", [] {
        auto m = textgen::model::load_default();
        textgen::generate_options o;
        o.num_beams = 4;
        o.num_return_sequences = 3;
        o.max_new_tokens = 12;
        o.early_stopping = TG_EARLY_STOP_NEVER;
        o.beam_scorers = "length_penalty(alpha=1.5)";
        o.flags = TG_GEN_NO_CONFIG;
        auto r = textgen::generate(m, prompt, o);

        tg_generate_options c = TG_GENERATE_OPTIONS_INIT;
        c.num_beams = 4;
        c.num_return_sequences = 3;
        c.max_new_tokens = 12;
        c.early_stopping = TG_EARLY_STOP_NEVER;
        c.beam_scorers = "length_penalty(alpha=1.5)";
        c.flags = TG_GEN_NO_CONFIG;
        tg_result *raw = nullptr;
        textgen::check(tg_generate(&raw, m.get(), prompt, &c));
        textgen::result want(raw);

        EXPECT(want.n_sequences() == 3);
        EXPECT(r.n_sequences() == 3);
        EXPECT(r.num_beams() == 4);
        EXPECT(r.beam_scorers() == "length_penalty(alpha=1.5)");
        auto seqs = r.sequences();
        for (size_t i = 0; i < 3; i++) {
            size_t n = 0, len = 0;
            const int32_t *ids = tg_result_sequence_tokens(want.get(), i, &n);
            EXPECT(seqs[i].tokens == std::vector<int32_t>(ids, ids + n));
            EXPECT(seqs[i].score == tg_result_sequence_score(want.get(), i));
            EXPECT(seqs[i].stop_reason == tg_result_sequence_stop_reason(want.get(), i));
            EXPECT(seqs[i].text == tg_result_sequence_text(want.get(), i, &len));
            EXPECT(seqs[i].logprobs.size() == n);
            // the default scorer family: score = sum of token scores / length^alpha
            double sum = 0;
            for (float lp : seqs[i].logprobs)
                sum += lp;
            EXPECT(std::fabs(seqs[i].score - sum / std::pow(double(n), 1.5)) < 1e-4);
        }
        EXPECT(seqs[0].score >= seqs[1].score && seqs[1].score >= seqs[2].score);
        EXPECT(seqs[0].tokens == r.tokens().to_vector()); // sequence 0 is the best
        EXPECT(seqs[0].tokens != seqs[1].tokens);
        bool refused = false;
        try {
            r.sequence_at(3);
        } catch (const textgen::error &e) {
            refused = e.status() == TG_ERANGE;
        }
        EXPECT(refused);
    });

    run("beam search streams the best sequence; processors and scorers apply to every beam", [] {
        register_cpp_processors();
        auto m = textgen::model::load_default();
        const int32_t e = m.tokenizer().encode("e")[0];
        textgen::generate_options o;
        o.samplers = "cpp_ban_id(id=" + std::to_string(e) + ") greedy";
        o.num_beams = 4;
        o.num_return_sequences = 4;
        o.max_new_tokens = 16;
        o.beam_scorers = "diverse_groups(groups=2, penalty=1.0) length_penalty(alpha=1)";
        o.flags = TG_GEN_NO_CONFIG;
        std::string text;
        std::vector<int32_t> ids;
        auto r = textgen::generate(m, prompt, o, [&](std::string_view t, textgen::view<int32_t> v) {
            text += t;
            ids.insert(ids.end(), v.begin(), v.end());
        });
        EXPECT(text == r.text());
        EXPECT(ids == r.tokens().to_vector());
        EXPECT(r.n_sequences() == 4);
        for (const auto &s : r.sequences()) {
            EXPECT(!s.tokens.empty());
            EXPECT(std::count(s.tokens.begin(), s.tokens.end(), e) == 0);
        }
        o.num_return_sequences = 5; // more than the beams: the library refuses it
        bool refused = false;
        try {
            textgen::generate(m, prompt, o);
        } catch (const textgen::error &err) {
            refused =
                err.status() == TG_ERANGE && std::string(err.what())
                                                     .find("num_return_sequences = 5 is more than "
                                                           "num_beams = 4") != std::string::npos;
        }
        EXPECT(refused);
    });

    run("errors carry status and message, per thread, under concurrency", [] {
        auto m = textgen::model::load_default();
        std::atomic<int> wrong{0}, right{0};
        std::vector<std::string> bad(4);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; t++)
            threads.emplace_back([&, t] {
                // odd threads fail to load a folder, even ones fail to parse a spec: each
                // message must name this thread's own folder or processor
                const std::string mine =
                    t % 2 ? "/no/such/folder-" + std::to_string(t) : "nope_" + std::to_string(t);
                for (int k = 0; k < 50; k++) {
                    try {
                        if (t % 2)
                            textgen::model::load(mine);
                        else
                            textgen::chain::parse(mine + " greedy", m);
                        wrong++;
                    } catch (const textgen::error &e) {
                        const bool ok = std::string(e.what()).find(mine) != std::string::npos &&
                                        e.status() == (t % 2 ? TG_ENOTFOUND : TG_ESPEC);
                        (ok ? right : wrong)++;
                        if (!ok)
                            bad[t] = std::string(e.status_name()) + " " + e.what();
                    }
                }
            });
        for (auto &th : threads)
            th.join();
        for (int t = 0; t < 4; t++)
            if (!bad[t].empty())
                throw std::runtime_error("thread " + std::to_string(t) + ": " + bad[t]);
        EXPECT(wrong == 0);
        EXPECT(right == 200);
    });

    run("a processor written in C++ runs next to built-ins", [] {
        register_cpp_processors();
        auto m = textgen::model::load_default();
        auto tok = m.tokenizer();
        const int32_t e = tok.encode("e")[0];
        textgen::generate_options o;
        o.samplers = "cpp_ban_id(id=" + std::to_string(e) + ") top_k(k=10) temperature(t=1.2) dist";
        o.max_new_tokens = 120;
        o.seed = 3;
        const int before = cpp_creates;
        auto r = textgen::generate(m, prompt, o);
        EXPECT(cpp_creates == before + 1);
        EXPECT(r.tokens().size() == 120);
        for (int32_t id : r.tokens())
            EXPECT(id != e);
        o.samplers = "top_k(k=10) temperature(t=1.2) dist"; // without it, 'e' does occur
        auto plain = textgen::generate(m, prompt, o);
        EXPECT(std::count(plain.tokens().begin(), plain.tokens().end(), e) > 0);
        auto c = textgen::chain::parse("cpp_ban_id(id=3) greedy", m);
        EXPECT(c.spec() == "cpp_ban_id(id=3) greedy");
        auto copy = c.clone();
        std::vector<float> logits(65, 0.0f);
        logits[3] = 5;
        logits[9] = 4;
        EXPECT(copy.sample(logits.data()) == 9);
        bool refused = false;
        try {
            textgen::chain::parse("cpp_ban_id(id=64000) greedy", m);
        } catch (const textgen::error &err) {
            refused = err.status() == TG_ESPEC &&
                      std::string(err.what()).find("cpp_ban_id: id 64000 is outside") !=
                          std::string::npos;
        }
        EXPECT(refused);
    });

    run("handles are freed and moved, never double-freed", [] {
        auto m = textgen::model::load_default();
        auto moved = std::move(m);
        EXPECT(moved.get() != nullptr);
        EXPECT(m.get() == nullptr);
        auto c = textgen::chain::parse("greedy", moved);
        auto c2 = std::move(c);
        c2 = textgen::chain::parse("top_k(k=2) greedy", 10);
        EXPECT(c2.size() == 2);
        textgen::generate_options three;
        three.samplers = "greedy";
        three.max_new_tokens = 3;
        textgen::generator g(moved, prompt, three);
        int steps = 0;
        for (auto s = g.next(); s.stop == TG_STOP_NONE; s = g.next())
            steps++;
        EXPECT(steps == 2); // the third token ends it
        EXPECT(g.current().tokens().size() == 3);
    });

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
