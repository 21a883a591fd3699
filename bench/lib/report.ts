import { fmt, type Summary } from './stats';

/** One figure: the subject, its baseline and their per-pair ratio when there is one, and the target. */
export interface Row {
  readonly bench: string;
  readonly case: string;
  readonly metric: string;
  readonly unit: string;
  readonly value: Summary;
  readonly baseline?: { readonly name: string; readonly value: Summary };
  readonly ratio?: Summary;
  /** What the issue asks for, in words ("≤ 1.5× ip -batch"), and whether the median meets it. */
  readonly target?: string;
  readonly met?: boolean;
  readonly note?: string;
}

export function table(rows: readonly Row[]): string {
  const head = ['bench', 'case', 'metric', 'median (min–max)', 'baseline median (min–max)', 'ratio (min–max)', 'target', 'met'];
  const body = rows.map((r) => [
    r.bench,
    r.case,
    `${r.metric} [${r.unit}]`,
    `${fmt(r.value, digits(r.value.median))} n=${r.value.n}`,
    r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value, digits(r.baseline.value.median))}` : '',
    r.ratio ? `${fmt(r.ratio, 2)}×` : '',
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const notes = rows.filter((r) => r.note).map((r) => `note (${r.bench} ${r.case} ${r.metric}): ${r.note ?? ''}`);
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), ...notes].join('\n') + '\n';
}

function digits(v: number): number {
  if (!Number.isFinite(v)) return 1;
  const a = Math.abs(v);
  return a >= 100 ? 0 : a >= 10 ? 1 : 2;
}
