/**
 * A deterministic source of [0, 1) numbers from a seed (mulberry32): the same seed gives the
 * same sequence on every run, so the benchmark sends the same workload each time and tests
 * that shuffle or pick at random stay reproducible.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
