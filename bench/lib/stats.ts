/**
 * Figures from a noisy, shared machine: never one run, never a bare number. A subject is measured
 * against its baseline in the same session, interleaved (A B A B …) so that a burst of load from a
 * neighbour lands on both, and each pair gives one ratio. We publish the median and the spread.
 */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Interquartile range (p75 − p25), the spread that one outlier cannot inflate. */
  readonly iqr: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? NaN;
  const b = sorted[hi] ?? NaN;
  return a + (b - a) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
    iqr: quantile(s, 0.75) - quantile(s, 0.25),
  };
}

export interface Paired {
  readonly subject: Summary;
  readonly baseline: Summary;
  /** subject_i / baseline_i for each interleaved pair. */
  readonly ratio: Summary;
  readonly samples: { readonly subject: number[]; readonly baseline: number[] };
}

/**
 * Runs `rounds` pairs, alternating which goes first (A B, B A, …) so that neither always enjoys a
 * warm cache or suffers the other's leftovers. `warmup` unmeasured pairs go first.
 */
export async function interleave(
  rounds: number,
  subject: () => Promise<number>,
  baseline: () => Promise<number>,
  warmup = 1,
): Promise<Paired> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < warmup + rounds; i++) {
    let x: number;
    let y: number;
    if (i % 2 === 0) {
      x = await subject();
      y = await baseline();
    } else {
      y = await baseline();
      x = await subject();
    }
    if (i >= warmup) {
      a.push(x);
      b.push(y);
    }
  }
  return { subject: summarize(a), baseline: summarize(b), ratio: summarize(a.map((x, i) => x / (b[i] ?? NaN))), samples: { subject: a, baseline: b } };
}

/** "12.3 (11.9–13.0)" */
export function fmt(s: Summary, digits = 1): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}
