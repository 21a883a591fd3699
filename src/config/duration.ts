import { configError } from '../errors';
import type { RawSetting } from './env';

/**
 * Durations as Calico writes them (Go's time.ParseDuration syntax): one or more
 * `<number><unit>` parts, e.g. "500ms", "5s", "1m30s", "1.5s", "-2h"; "0" alone needs no unit.
 * Units: ns, us (µs, μs), ms, s, m, h. The result is in milliseconds and may be fractional.
 */
const unitMs: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's limit: a duration is an int64 count of nanoseconds. */
const maxMs = 9_223_372_036_854.775;

/** Milliseconds, or undefined when `text` is not a Go duration. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  // Each part: digits, optional fraction (at least one digit overall), then a unit of letters.
  const part = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;
  let total = 0;
  while (s !== '') {
    const m = part.exec(s);
    if (!m) return undefined;
    const whole = m[1] ?? '';
    const frac = m[2] ?? '';
    const unit = m[3] ?? '';
    if (whole === '' && frac === '') return undefined;
    const scale = unitMs[unit];
    if (scale === undefined) return undefined;
    total += Number(`${whole === '' ? '0' : whole}.${frac === '' ? '0' : frac}`) * scale;
    s = s.slice(m[0].length);
  }
  if (!Number.isFinite(total) || total > maxMs) return undefined;
  return sign * total;
}

/** Prints milliseconds the way Go would for the values we use (e.g. 90000 → "1m30s", 1500 → "1.5s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${trim(rest)}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  return `${sign}${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${trim(s)}s`;
}

function trim(n: number): string {
  return String(Number(n.toFixed(6)));
}

export interface DurationBounds {
  /** Smallest accepted value in ms (inclusive). */
  readonly minMs: number;
  /** Largest accepted value in ms (inclusive). */
  readonly maxMs: number;
}

/** A duration setting: unset → `fallbackMs`; malformed or out of bounds → configError naming the variable. */
export function parseDurationSetting(s: RawSetting, fallbackMs: number, bounds: DurationBounds): number {
  if (s.value === undefined) return fallbackMs;
  const ms = parseGoDuration(s.value);
  if (ms === undefined) {
    throw configError(s.name, s.value, 'is not a duration (write it like 500ms, 5s, 1m30s)');
  }
  if (ms < bounds.minMs || ms > bounds.maxMs) {
    throw configError(s.name, s.value, `must be from ${formatDuration(bounds.minMs)} to ${formatDuration(bounds.maxMs)}`);
  }
  return ms;
}
