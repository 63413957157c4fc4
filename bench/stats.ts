/** Small statistics helpers: percentiles, rates and per-second buckets. */

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of an ascending array. */
function rank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    p50: rank(sorted, 50),
    p95: rank(sorted, 95),
    p99: rank(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** Counts of timestamps (ms from the start) per bucket of `bucketMs`, up to `untilMs`. */
export function perBucket(timestamps: readonly number[], bucketMs: number, untilMs: number): number[] {
  const buckets = new Array<number>(Math.max(1, Math.ceil(untilMs / bucketMs))).fill(0);
  for (const t of timestamps) {
    const index = Math.floor(t / bucketMs);
    if (index >= 0 && index < buckets.length) buckets[index] = (buckets[index] as number) + 1;
  }
  return buckets;
}

/** Events per second among the timestamps inside [fromMs, toMs). */
export function rateBetween(timestamps: readonly number[], fromMs: number, toMs: number): number {
  const inside = timestamps.filter((t) => t >= fromMs && t < toMs).length;
  return toMs > fromMs ? (inside * 1000) / (toMs - fromMs) : Number.NaN;
}

/** Rounds for display: 3 significant digits, no exponent. */
export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
