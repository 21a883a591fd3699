/**
 * A token bucket: `ratePerSecond` tokens flow in, at most `burst` are held; each line takes one.
 * Time comes from the caller (a monotonic clock in milliseconds), so tests need no sleeping.
 */
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError(`a token bucket needs a positive rate and a burst of at least 1 (got ${ratePerSecond}, ${burst})`);
    this.tokens = burst;
  }

  /** Takes one token at time `nowMs`; false when none is left (the caller drops and counts). */
  take(nowMs: number): boolean {
    if (this.last !== undefined && nowMs > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.last) * this.ratePerSecond) / 1000);
    }
    if (this.last === undefined || nowMs > this.last) this.last = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
