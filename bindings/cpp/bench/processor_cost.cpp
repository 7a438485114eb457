// processor_cost.cpp — what a processor written in C++ (through textgen::register_plugin) costs
// per token inside a sampler chain: tg_chain_sample + accept over random logits for "greedy",
// "cpp_noop greedy" and "cpp_ban greedy" (reads every live id, drops one), n_vocab 65 and 50257.
// A benchmark, never a test (docs/bindings.md has the figures).
#include <textgen/textgen.hpp>

#include <chrono>
#include <cstdio>
#include <random>

namespace
{
struct noop : textgen::processor {
    void apply(textgen::candidates &, const tg_step_info &) override {}
};
struct ban : textgen::processor {
    void apply(textgen::candidates &c, const tg_step_info &) override
    {
        c.keep_if([](int32_t id, float) { return id != 7; });
    }
};

double per_token_us(const char *spec, int32_t n_vocab, const std::vector<std::vector<float>> &l,
                    int steps)
{
    auto chain = textgen::chain::parse(spec, n_vocab);
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < steps; k++)
        chain.accept(chain.sample(l[static_cast<size_t>(k) % l.size()].data()));
    std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - t0;
    return d.count() / steps;
}
} // namespace

int main()
{
    textgen::processor_def n, b;
    n.name = "cpp_noop";
    n.create = [](const tg_param_value *, const tg_proc_context &) {
        return std::make_unique<noop>();
    };
    b.name = "cpp_ban";
    b.kind = TG_PROC_FILTER;
    b.create = [](const tg_param_value *, const tg_proc_context &) {
        return std::make_unique<ban>();
    };
    textgen::register_plugin("cpp_bench", {n, b});
    std::mt19937 rng(1);
    std::normal_distribution<float> gauss(0, 3);
    for (auto [n_vocab, steps] : {std::pair<int32_t, int>{65, 20000}, {50257, 2000}}) {
        std::vector<std::vector<float>> logits(4, std::vector<float>(static_cast<size_t>(n_vocab)));
        for (auto &row : logits)
            for (auto &x : row)
                x = gauss(rng);
        const double base = per_token_us("greedy", n_vocab, logits, steps);
        for (const char *spec : {"cpp_noop greedy", "cpp_ban greedy"}) {
            const double t = per_token_us(spec, n_vocab, logits, steps);
            std::printf("n_vocab %6d  %-16s %9.2f us/token (+%.2f us over greedy's %.2f)\n",
                        n_vocab, spec, t, t - base, base);
        }
    }
}
