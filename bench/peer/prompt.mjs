// The bench prompt: the same LCG token sequence as bench/bench_decode.c and bench/peer_worker.c.
export function benchPrompt(n, nVocab) {
    const ids = [];
    let x = 12345;
    for (let i = 0; i < n; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        ids.push((x >>> 8) % nVocab);
    }
    return ids;
}
