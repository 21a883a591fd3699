/**
 * Capped exponential backoff with "equal jitter": the n-th delay is half of min(cap, initial·factorⁿ)
 * plus a random share of the other half. Unlike full jitter it never drops to ~0 ms, so a gateway
 * whose socket is missing does not spin; the random half still spreads the gateways of a cluster
 * apart when Felix restarts under all of them at once. Pure: the random source is injected.
 */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 10_000, factor: 2 };

export class Backoff {
  private failures = 0;

  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    /** Returns a number in [0, 1). */
    private readonly random: () => number = Math.random,
  ) {
    if (!(policy.initialMs > 0) || !(policy.maxMs >= policy.initialMs) || !(policy.factor >= 1)) {
      throw new RangeError(`invalid backoff policy ${JSON.stringify(policy)}`);
    }
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const ceiling = Math.min(this.policy.maxMs, this.policy.initialMs * this.policy.factor ** this.failures);
    // Stop growing the exponent once the cap is reached, so it cannot overflow to Infinity.
    if (ceiling < this.policy.maxMs) this.failures++;
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.round(ceiling / 2 + (ceiling / 2) * r);
  }

  /** After a success (a stream reached in_sync): start again from the initial delay. */
  reset(): void {
    this.failures = 0;
  }
}
