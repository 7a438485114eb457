// llama_worker.mjs — the llama.cpp side of bench/peer/compare.mjs, through npm node-llama-cpp's
// prebuilt CPU binaries. Same line protocol as bench/peer_worker.c:
//   node llama_worker.mjs MODEL.gguf            serve "run T P G", "argmax T P", "quit" on stdin
//   node llama_worker.mjs MODEL.gguf --start T  print CLOCK_MONOTONIC times (ns) at start, after
//                                               the model load, and at the first logits; exit
// One context per thread count (contextSize = P + G + 1, batchSize = contextSize, 1 sequence),
// created on first use and warmed up once. Greedy = temperature 0 (llama.cpp's greedy sampler).
// prefill_tps = P / (time until the first generated token); decode_tps = G / (time of the G
// further tokens); each step goes through node's event loop (a few tens of µs per token).
import {createInterface} from "node:readline";
import {benchPrompt} from "./prompt.mjs";

const tMain = process.hrtime.bigint();
const [modelPath, flag, startThreads] = process.argv.slice(2);
const modulesDir = process.env.NODE_LLAMA_DIR; // folder holding node_modules/node-llama-cpp
const {getLlama, LlamaLogLevel} = await import(
    modulesDir ? `${modulesDir}/node_modules/node-llama-cpp/dist/index.js` : "node-llama-cpp");

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const tLoad0 = process.hrtime.bigint();
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const tLoad1 = process.hrtime.bigint();
const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;

async function newContext(threads, nCtx) {
    return model.createContext({contextSize: nCtx, batchSize: nCtx, sequences: 1, threads});
}

if (flag === "--start") {
    const ctx = await newContext(Number(startThreads), 16);
    const seq = ctx.getSequence();
    const out = await seq.controlledEvaluate([[0, {generateNext: {token: true, options: {temperature: 0}}}]]);
    const tFirst = process.hrtime.bigint();
    console.log(JSON.stringify({t_main: String(tMain), t_load0: String(tLoad0), t_load1: String(tLoad1),
                                t_first: String(tFirst), token: out[0]?.next?.token}));
    await ctx.dispose();
    await model.dispose();
    process.exit(0);
}

const contexts = new Map(); // threads -> {ctx, seq, nCtx}

async function runOnce(seq, P, G) {
    await seq.clearHistory();
    const prompt = benchPrompt(P, nVocab);
    const tokens = [];
    const t0 = process.hrtime.bigint();
    let t1 = t0;
    for await (const tok of seq.evaluate(prompt, {temperature: 0})) {
        if (tokens.length === 0)
            t1 = process.hrtime.bigint();
        tokens.push(tok);
        if (tokens.length === G + 1)
            break;
    }
    const t2 = process.hrtime.bigint();
    return {prefill_tps: P / (Number(t1 - t0) * 1e-9), decode_tps: G / (Number(t2 - t1) * 1e-9), tokens};
}

async function argmaxRows(seq, P) {
    await seq.clearHistory();
    const prompt = benchPrompt(P, nVocab);
    const out = await seq.controlledEvaluate(
        prompt.map((t) => [t, {generateNext: {token: true, options: {temperature: 0}}}]));
    return {argmax: prompt.map((_, i) => out[i]?.next?.token ?? -1)};
}

async function session(T, nCtx) {
    let s = contexts.get(T);
    if (s && s.nCtx < nCtx) {
        await s.ctx.dispose();
        s = undefined;
    }
    if (!s) {
        const ctx = await newContext(T, nCtx);
        s = {ctx, seq: ctx.getSequence(), nCtx, fresh: true};
        contexts.set(T, s);
    }
    return s;
}

console.log(JSON.stringify({ready: 1, load_s: Number(tLoad1 - tLoad0) * 1e-9,
                            threads_default: llama.cpuMathCores, system: llama.systemInfo}));
for await (const line of createInterface({input: process.stdin})) {
    const w = line.trim().split(/\s+/);
    if (w[0] === "quit")
        break;
    const [T, P, G] = w.slice(1).map(Number);
    if ((w[0] !== "run" && w[0] !== "argmax") || !(T >= 1) || !(P >= 1) || (w[0] === "run" && !(G >= 0))) {
        console.log(JSON.stringify({error: "bad command"}));
        continue;
    }
    const s = await session(T, P + (G || 0) + 1);
    if (s.fresh) { // warm-up, as the libtextgen worker does
        await runOnce(s.seq, P, G || 1);
        s.fresh = false;
    }
    console.log(JSON.stringify(w[0] === "run" ? await runOnce(s.seq, P, G) : await argmaxRows(s.seq, P)));
}
for (const s of contexts.values())
    await s.ctx.dispose();
await model.dispose();
process.exit(0);
