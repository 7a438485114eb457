// generate.cpp — the C++ binding's example: a processor written in C++ (it bans the letters you
// name) in a chain with built-in stages, streamed from the bundled model; then a beam search.
//
//   generate [PROMPT] [BANNED_LETTERS]        (the model: $TEXTGEN_MODEL, else the bundled one)
//
// Build against an installed libtextgen:
//   c++ -std=c++17 generate.cpp $(pkg-config --cflags --libs textgen) -I<bindings/cpp/include>
#include <textgen/textgen.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

// Bans every id whose text is one of the letters given.
class ban_letters : public textgen::processor
{
  public:
    ban_letters(std::vector<int32_t> ids) : ids_(std::move(ids)) {}
    void apply(textgen::candidates &c, const tg_step_info &) override
    {
        for (size_t i = 0; i < c.size(); i++)
            for (int32_t id : ids_)
                if (c.id(i) == id)
                    c.set_logit(i, -INFINITY);
    }
    // Beam search gives every beam its own copy of the chain.
    std::unique_ptr<textgen::processor> clone() const override
    {
        return std::make_unique<ban_letters>(ids_);
    }

  private:
    std::vector<int32_t> ids_;
};

int main(int argc, char **argv)
{
    const std::string prompt = argc > 1 ? argv[1] : "ROMEO:";
    const std::string letters = argc > 2 ? argv[2] : "e";
    try {
        auto model = textgen::model::load_default();

        textgen::processor_def def;
        def.name = "ban_letters";
        def.kind = TG_PROC_TRANSFORM;
        def.doc = "ban the given letters (a C++ processor)";
        def.params = {{"letters", TG_PARAM_STRING, "e", 0, 0, "the letters banned"}};
        const textgen::tokenizer tok = model.tokenizer();
        def.create = [tok](const tg_param_value *v, const tg_proc_context &) {
            return std::make_unique<ban_letters>(tok.encode(v[0].string));
        };
        textgen::register_plugin("example_cpp", {def});

        textgen::generate_options opts;
        opts.samplers = "ban_letters(letters=\"" + letters +
                        "\") repetition_penalty(penalty=1.2) top_k(k=40) temperature(t=0.8) dist";
        opts.max_new_tokens = 200;
        opts.seed = 42;
        std::cout << prompt;
        auto result = textgen::generate(
            model, prompt, opts,
            [](std::string_view text, textgen::view<int32_t>) { std::cout << text << std::flush; });
        std::cout << "\n[" << result.stop_reason_name() << ", " << result.tokens().size()
                  << " tokens]\n";

        // Beam search with the same C++ processor on every beam: the two best of 4 beams.
        textgen::generate_options beam_opts;
        beam_opts.samplers = "ban_letters(letters=\"" + letters + "\") greedy";
        beam_opts.max_new_tokens = 40;
        beam_opts.num_beams = 4;
        beam_opts.num_return_sequences = 2;
        beam_opts.beam_scorers = "length_penalty(alpha=1.2)";
        auto beams = textgen::generate(model, prompt, beam_opts);
        int banned = result.text().find_first_of(letters) != std::string::npos;
        for (size_t i = 0; i < beams.n_sequences(); i++) {
            textgen::sequence s = beams.sequence_at(i);
            std::printf("[beam %zu, score %.4f, %s] %s\n", i, s.score, s.stop_reason_name.c_str(),
                        s.text.c_str());
            banned |= s.text.find_first_of(letters) != std::string::npos;
        }
        if (banned) {
            std::cerr << "generate: a banned letter came out\n";
            return 1;
        }
        return 0;
    } catch (const textgen::error &e) {
        std::cerr << "generate: " << e.status_name() << ": " << e.what() << "\n";
        return 1;
    }
}
