// compare.mjs — libtextgen and llama.cpp on the same weights, in one invocation.
//
// Usage (run through bench/peer/run.sh, which builds, exports and installs what is missing):
//   node compare.mjs --build BUILD --model DIR --gguf-prefix PATH --llama-dir DIR
//                    [--reps N] [--threads 1,2] [--prompt 64] [--gen 128] [--pairs fp32,bf16]
//                    [--spinner] [--start-reps N]
//
// Pairs: fp32 = libtextgen TG_WEIGHTS_F32 vs llama.cpp f32 GGUF; bf16 = TG_WEIGHTS_BF16 vs f16
// GGUF; int8 = TG_WEIGHTS_INT8 vs Q8_0 GGUF; q8_0 = llama.cpp's Q8_0 alone. For each pair both
// workers (bench/peer_worker.c, bench/peer/llama_worker.mjs) stay loaded; every repetition runs
// each (engine, thread count) once, the order reversed on odd repetitions, and, with --spinner,
// once more with a background `sh -c 'while :; do :; done'` keeping one CPU busy. Medians with
// [min-max], ratios of medians and the median of the per-repetition (paired) ratios are printed.
// Sanity check: llama.cpp's greedy next token after every prompt prefix, and its greedy
// continuation, must equal libtextgen's on the f32 weights (a wrong export would not agree).
// --start-reps N: fresh processes, time from spawn (and from the start of the model load) to the
// first logits of a 1-token prompt, 1 thread, the engines alternating.
import {spawn} from "node:child_process";
import {readFileSync} from "node:fs";
import {createInterface} from "node:readline";
import {cpus} from "node:os";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const opt = {reps: 5, threads: "1,2", prompt: 64, gen: 128, pairs: "fp32,bf16", spinner: false,
             "start-reps": 0};
for (let i = 2; i < process.argv.length; i++) {
    const k = process.argv[i].replace(/^--/, "");
    if (!(k in opt) && !["build", "model", "gguf-prefix", "llama-dir"].includes(k))
        throw new Error(`unknown option ${process.argv[i]}`);
    opt[k] = k === "spinner" ? true : process.argv[++i];
}
for (const k of ["build", "model", "gguf-prefix", "llama-dir"])
    if (!opt[k])
        throw new Error(`--${k} is required`);
const threads = String(opt.threads).split(",").map(Number);
const [reps, P, G, startReps] = [opt.reps, opt.prompt, opt.gen, opt["start-reps"]].map(Number);
const pairs = String(opt.pairs).split(",");
const ggufType = {fp32: "f32", bf16: "f16", int8: "q8_0", q8_0: "q8_0"};

// ---- workers: one JSON line per command ----
class Worker {
    constructor(name, cmd, args, env) {
        this.name = name;
        this.proc = spawn(cmd, args, {stdio: ["pipe", "pipe", "inherit"], env: {...process.env, ...env}});
        this.lines = createInterface({input: this.proc.stdout})[Symbol.asyncIterator]();
    }
    async read() {
        const {value, done} = await this.lines.next();
        if (done)
            throw new Error(`${this.name} exited`);
        const r = JSON.parse(value);
        if (r.error)
            throw new Error(`${this.name}: ${r.error}`);
        return r;
    }
    async ask(line) {
        this.proc.stdin.write(line + "\n");
        return this.read();
    }
    cpuSeconds() { return procCpu(this.proc.pid); }
    quit() { this.proc.stdin.end("quit\n"); }
}

function ours(precision, extra = []) {
    return [join(opt.build, "bench/peer_worker"), [opt.model, precision, ...extra]];
}
function theirs(precision, extra = []) {
    return ["node", [join(here, "llama_worker.mjs"), `${opt["gguf-prefix"]}.${ggufType[precision]}.gguf`, ...extra]];
}
const llamaEnv = {NODE_LLAMA_DIR: opt["llama-dir"]};

// ---- machine load: CPU seconds of everyone (/proc/stat) minus ours ----
function procCpu(pid) {
    try {
        const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (USER_HZ 100)
    } catch {
        return 0;
    }
}
function busySeconds() {
    const v = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / 100;
}
function loadavg() { return readFileSync("/proc/loadavg", "utf8").trim(); }

function startSpinner() {
    return spawn("sh", ["-c", "while :; do :; done"], {stdio: "ignore"});
}
async function stopSpinner(s) {
    if (!s)
        return;
    const gone = new Promise((r) => s.once("exit", r));
    process.kill(s.pid, "SIGTERM");
    await gone;
}

// ---- statistics ----
const median = (a) => {
    const s = [...a].sort((x, y) => x - y), n = s.length;
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const fmt = (a, d = 1) => `${median(a).toFixed(d)} [${Math.min(...a).toFixed(d)}-${Math.max(...a).toFixed(d)}]`;

// ---- one pair ----
async function comparePair(precision) {
    const [oc, oa] = ours(precision), [lc, la] = theirs(precision);
    const engines = [];
    if (precision !== "q8_0")
        engines.push(new Worker(`libtextgen ${precision}`, oc, oa));
    engines.push(new Worker(`llama.cpp ${ggufType[precision]}`, lc, la, llamaEnv));
    const ready = [];
    for (const e of engines)
        ready.push(await e.read());
    console.log(`\n== ${engines.map((e) => e.name).join(" vs ")} — prompt ${P}, ${G} greedy tokens, ` +
                `${reps} repetitions${opt.spinner ? ", quiet and with a spinner on one CPU" : ""} ==`);
    console.log(`load (model already in the page cache): ${engines.map((e, i) => `${e.name} ${ready[i].load_s.toFixed(2)} s`).join(", ")}`);

    // Sanity: the same greedy tokens on the same weights.
    if (engines.length === 2) {
        const [a, b] = [await engines[0].ask(`argmax 1 ${P}`), await engines[1].ask(`argmax 1 ${P}`)];
        const same = a.argmax.filter((t, i) => t === b.argmax[i]).length;
        const [ra, rb] = [await engines[0].ask(`run 1 ${P} ${G}`), await engines[1].ask(`run 1 ${P} ${G}`)];
        let prefix = 0;
        while (prefix < ra.tokens.length && ra.tokens[prefix] === rb.tokens[prefix])
            prefix++;
        console.log(`greedy agreement: next token after each of the ${P} prompt prefixes ${same}/${P} equal; ` +
                    `continuation: first ${prefix}/${ra.tokens.length} tokens equal` +
                    (precision === "fp32" ? (same === P && prefix === ra.tokens.length ? " (export OK)" : " (MISMATCH)") :
                     " (different precisions: agreement is expected to be partial)"));
    }

    const conds = opt.spinner ? ["quiet", "spinner"] : ["quiet"];
    const res = {}; // cond -> engine -> threads -> {pre:[], dec:[]}
    const other = {quiet: [], spinner: []};
    for (const c of conds) {
        res[c] = engines.map(() => Object.fromEntries(threads.map((t) => [t, {pre: [], dec: []}])));
    }
    for (let r = 0; r < reps; r++) {
        for (const c of (r % 2 ? [...conds].reverse() : conds)) {
            const spinner = c === "spinner" ? startSpinner() : null;
            if (spinner)
                await new Promise((ok) => setTimeout(ok, 200)); // let it take its CPU
            const runs = [];
            for (const t of threads)
                for (let e = 0; e < engines.length; e++)
                    runs.push([e, t]);
            if (r % 2)
                runs.reverse();
            const b0 = busySeconds(), w0 = engines.map((e) => e.cpuSeconds()), s0 = spinner ? procCpu(spinner.pid) : 0;
            const t0 = performance.now();
            for (const [e, t] of runs) {
                const x = await engines[e].ask(`run ${t} ${P} ${G}`);
                res[c][e][t].pre.push(x.prefill_tps);
                res[c][e][t].dec.push(x.decode_tps);
            }
            const wall = (performance.now() - t0) / 1000;
            const mine = engines.reduce((s, e, i) => s + e.cpuSeconds() - w0[i], 0) + (spinner ? procCpu(spinner.pid) - s0 : 0);
            other[c].push(Math.max(0, (busySeconds() - b0 - mine) / wall));
            await stopSpinner(spinner);
        }
        process.stderr.write(`compare: ${precision} repetition ${r + 1}/${reps} done\n`);
    }
    for (const e of engines)
        e.quit();

    for (const c of conds) {
        console.log(`\n-- ${c === "quiet" ? "quiet (no spinner)" : "one CPU kept busy by a spinner process"}; ` +
                    `other processes used ${fmt(other[c], 2)} CPUs (median [min-max] over repetitions) --`);
        const head = threads.map((t) => `${t} thread${t > 1 ? "s" : ""}`);
        console.log(`${"".padEnd(36)}| ${head.map((h) => h.padEnd(24)).join("| ")}`);
        for (const [key, label] of [["dec", "decode tok/s"], ["pre", "prefill tok/s"]]) {
            for (let e = 0; e < engines.length; e++)
                console.log(`${(label + ", " + engines[e].name).padEnd(36)}| ${threads.map((t) => fmt(res[c][e][t][key], key === "dec" ? 2 : 1).padEnd(24)).join("| ")}`);
            if (engines.length === 2) {
                const cells = threads.map((t) => {
                    const a = res[c][0][t][key], b = res[c][1][t][key];
                    const paired = a.map((x, i) => x / b[i]);
                    return `x${(median(a) / median(b)).toFixed(2)} (paired x${median(paired).toFixed(2)})`;
                });
                console.log(`${("  ratio libtextgen / llama.cpp").padEnd(36)}| ${cells.map((s) => s.padEnd(24)).join("| ")}`);
            }
        }
        if (threads.length > 1)
            for (let e = 0; e < engines.length; e++) {
                const t1 = threads[0], tn = threads[threads.length - 1];
                const a = res[c][e][tn].dec, b = res[c][e][t1].dec;
                console.log(`  ${engines[e].name}: decode ${tn} vs ${t1} threads, paired x${median(a.map((x, i) => x / b[i])).toFixed(2)}`);
            }
    }
    return res;
}

// ---- time to the first logits, fresh processes ----
async function startOnce(cmd, args, env) {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, {stdio: ["ignore", "pipe", "inherit"], env: {...process.env, ...env}});
    let out = "";
    for await (const chunk of p.stdout)
        out += chunk;
    const r = JSON.parse(out.trim().split("\n").pop());
    const ms = (a, b) => Number(BigInt(b) - BigInt(a)) / 1e6;
    return {spawn_first: ms(t0, r.t_first), load: ms(r.t_load0, r.t_load1), load_first: ms(r.t_load0, r.t_first),
            spawn_main: ms(t0, r.t_main)};
}

async function startTimes() {
    const cases = [];
    for (const p of pairs) {
        if (p !== "q8_0")
            cases.push([`libtextgen ${p}`, ...ours(p, ["--start", "1"]), {}]);
        cases.push([`llama.cpp ${ggufType[p]}`, ...theirs(p, ["--start", "1"]), llamaEnv]);
    }
    const got = cases.map(() => []);
    for (let r = 0; r < startReps; r++)
        for (let k = 0; k < cases.length; k++) {
            const i = r % 2 ? cases.length - 1 - k : k;
            got[i].push(await startOnce(cases[i][1], cases[i][2], cases[i][3]));
        }
    console.log(`\n== time to the first logits (1-token prompt, 1 thread), fresh process, warm page cache, ` +
                `${startReps} runs each, median [min-max] ms ==`);
    console.log(`${"".padEnd(22)}| ${["spawn -> main/import", "model load", "load -> first logits", "spawn -> first logits"].map((h) => h.padEnd(24)).join("| ")}`);
    cases.forEach((c, i) => {
        const col = (k) => fmt(got[i].map((x) => x[k]), 0).padEnd(24);
        console.log(`${c[0].padEnd(22)}| ${col("spawn_main")}| ${col("load")}| ${col("load_first")}| ${col("spawn_first")}`);
    });
}

const cpu = cpus()[0]?.model ?? "?";
console.log(`# bench/peer/compare.mjs — ${new Date().toISOString()} — ${cpus().length} CPUs: ${cpu}`);
console.log(`# loadavg before: ${loadavg()}`);
for (const p of pairs)
    await comparePair(p);
if (startReps > 0)
    await startTimes();
console.log(`\n# loadavg after: ${loadavg()}`);
