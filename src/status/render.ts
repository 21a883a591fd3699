import type { CheckName } from '../health/readiness';
import { hostPort } from '../health/render';
import type { ProbeTargetStatus, StatusDocument } from './model';

/**
 * The human-readable form of the status document: a headline that answers "is it ready, and if
 * not, why", then one section per part, with fixed-width columns. Ages are relative to the
 * document's own `now` (the daemon's clock), so the output depends only on the document.
 */
export function renderStatusTable(doc: StatusDocument): string {
  const now = Date.parse(doc.now);
  const when = (iso: string | undefined): string => (iso === undefined ? '-' : `${ago(now, iso)} (${iso})`);
  const out: string[] = [];

  out.push(`egress-gateway ${doc.version}  pid ${doc.pid}  ${doc.phase}  up ${duration(doc.uptimeSeconds * 1000)}`);
  if (doc.ready) out.push('READY: yes');
  else out.push(`READY: NO (failing: ${doc.failing.join(', ')})`);

  section(out, 'READINESS');
  const checkRows = (Object.entries(doc.checks) as [CheckName, NonNullable<StatusDocument['checks'][CheckName]>][]).map(([name, c]) => [
    name,
    c.ok ? 'ok' : 'FAIL',
    c.reason,
  ]);
  table(out, ['CHECK', 'STATE', 'REASON'], checkRows);

  const s = doc.policysync;
  section(out, 'POLICYSYNC');
  fields(out, [
    ['socket', s.socket],
    ['state', `${s.state}${s.inSync ? ', in sync' : s.state === 'connected' ? ', waiting for in_sync' : ''}${connectingText(now, s.connecting)}`],
    ['last in_sync', when(s.lastInSync)],
    ...(s.outOfSyncSince ? ([['out of sync', `since ${when(s.outOfSyncSince)}`]] as [string, string][]) : []),
    ['streams', `${s.streams} (dial attempts ${s.attempts}, reconnects ${s.reconnects})`],
    ['messages', Object.entries(s.messages).map(([k, n]) => `${k} ${n}`).join(', ')],
    ...(s.lastError ? ([['last error', `${s.lastError} (${ago(now, s.lastErrorTime)})`]] as [string, string][]) : []),
  ]);

  const d = doc.dataplane;
  section(out, 'RETURN PATH');
  table(
    out,
    ['ENTRIES', 'DESIRED', 'PROGRAMMED'],
    [
      ['routes', String(d.desired.routes), String(d.programmed.routes)],
      ['neighbours', String(d.desired.neighbours), String(d.programmed.neighbours)],
      ['fdb', String(d.desired.fdb), String(d.programmed.fdb)],
    ],
    [false, true, true],
  );
  const last = d.lastReconcile;
  const failed = [...d.drift.failures, ...(d.drift.failuresOmitted > 0 ? [`... and ${d.drift.failuresOmitted} more`] : [])];
  fields(out, [
    ['drift', d.drift.drifted ? ['YES', ...d.drift.reasons].join('\n') : 'none'],
    ...(failed.length > 0 ? ([['failed entries', failed.join('\n')]] as [string, string][]) : []),
    ...(!d.inSync ? ([['note', 'not in sync with Felix: the kernel is not written until the next in_sync']] as [string, string][]) : []),
    [
      'last reconcile',
      last
        ? `${last.ok ? 'ok' : 'FAILED'} ${ago(now, last.at)}, ${ms(last.durationMs)}, ${last.full ? 'full (kernel read)' : 'incremental'}, ${last.operations} operations`
        : 'none yet',
    ],
    ...(d.self ? ([['own block', `${d.self.dst} (node ${d.self.node})`]] as [string, string][]) : []),
    ['skipped routes', String(d.skipped)],
    // A document from a daemon older than the conflicts field has none.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    ...((d.conflicts ?? []).length > 0
      ? ([
          [
            'CONFLICTS',
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
            (d.conflicts ?? [])
              .map(
                (c) =>
                  `${c.address}: kept by ${c.keptBy} (${c.because === 'incumbent' ? 'it holds the address' : 'first by name'}); refused: ${c.refused.map((x) => `${x.node} (${x.blocks} block${x.blocks === 1 ? '' : 's'})`).join(', ') || '-'}`,
              )
              .join('\n'),
          ],
        ] as [string, string][])
      : []),
  ]);

  section(out, 'PROBES');
  if (doc.probes.length === 0) out.push('  none configured (ICMP_PROBE_IPS and HTTP_PROBE_URLS are empty)');
  else {
    const rows: string[][] = [];
    for (const p of doc.probes) {
      for (const t of p.targets) rows.push([p.kind, t.target, targetState(t), t.lastSuccess ? ago(now, t.lastSuccess) : '-', t.latencyMs === undefined ? '-' : ms(t.latencyMs), lastError(now, t)]);
    }
    table(out, ['KIND', 'TARGET', 'STATE', 'LAST ANSWER', 'LATENCY', 'LAST ERROR'], rows);
    for (const p of doc.probes) out.push(`  ${p.kind}: an attempt every ${ms(p.intervalMs)}; a target counts for ${ms(p.timeoutMs)} after its last answer`);
  }

  const u = doc.underlay;
  if (u) {
    section(out, 'UNDERLAY');
    const r = u.lastRecovery;
    fields(out, [
      ['carrier', `${u.device} ${u.carrier === 'down' ? 'DOWN' : u.carrier}${u.since ? ` since ${when(u.since)}` : ''} (readiness is left to the probes)`],
      ['changes', String(u.changes)],
      ...(r
        ? ([['last carrier back', `${ago(now, r.at)}: next hops ${r.nextHops.join(', ') || '-'}; deleted ${r.deleted.join(', ') || 'nothing'}${r.errors.length > 0 ? `; errors: ${r.errors.join('; ')}` : ''}`]] as [string, string][])
        : []),
    ]);
  }

  const g = doc.setup;
  if (g) {
    section(out, 'SETUP');
    const drift = Object.entries(g.drift).map(([item, n]) => `${item} ${n}`).join(', ');
    fields(out, [
      ['backend', g.backend],
      ['last ruleset check', when(g.lastRulesetCheck)],
      ['changes put back', drift || 'none'],
      ...(g.lastDrift ? ([['last change', `${g.lastDrift.detail} (${ago(now, g.lastDrift.at)})`]] as [string, string][]) : []),
      [
        'fail-safe drops',
        `${g.failsafeDropped} (invalid ${g.failsafeDroppedByKind.invalid}, stale ${g.failsafeDroppedByKind.stale}, escaped ${g.failsafeDroppedByKind.escaped}); stale flows deleted ${g.staleFlowsDeleted}`,
      ],
      ...(g.problem ? ([['PROBLEM', g.problem]] as [string, string][]) : []),
    ]);
  }

  section(out, 'DRAIN');
  out.push(
    doc.drain.draining
      ? `  DRAINING since ${when(doc.drain.since)}: readiness is 503; stopping ${ms(doc.drain.delayMs)} after it began`
      : `  not draining (on SIGTERM: readiness 503 for ${ms(doc.drain.delayMs)}, then stop)`,
  );

  const c = doc.config;
  section(out, 'CONFIG');
  fields(out, [
    ['egress IP', [c.egressIpv4, c.egressIpv6].filter((x) => x !== undefined).join(', ')],
    ['devices', `${c.vxlanDevice} (VXLAN), ${c.underlayDevice} (underlay)`],
    ['policysync', c.policysyncSocket],
    ['status socket', c.statusSocket],
    ['health server', c.health.port === 0 ? 'off (HEALTH_PORT=0)' : `${hostPort(c.health.host, c.health.boundPort ?? c.health.port)}${c.health.boundPort === undefined ? ' (not listening)' : ''}`],
    ['resync every', ms(c.resyncIntervalMs)],
    ['datastore timeout', ms(c.datastoreTimeoutMs)],
    ['log level', c.logLevel],
  ]);
  return out.join('\n') + '\n';
}

/** What a connecting stream is doing, said plainly: no response headers yet is not the same as no connection. */
function connectingText(now: number, c: StatusDocument['policysync']['connecting']): string {
  if (!c) return '';
  if (c.step === 'dialing') return ` (dialling the socket since ${ago(now, c.since)})`;
  return ` (connected to the socket ${ago(now, c.since)}; no response headers yet: Felix sends none until it is in sync itself)`;
}

function targetState(t: ProbeTargetStatus): string {
  if (t.state === 'up') return 'up';
  if (t.state === 'pending') return 'pending';
  // Down now, but an answer inside the window still counts for readiness.
  return t.counts ? 'DOWN (counts)' : 'DOWN';
}

function lastError(now: number, t: ProbeTargetStatus): string {
  if (t.lastError === undefined) return '-';
  return `${t.lastError} (${ago(now, t.lastErrorTime)})`;
}

export function section(out: string[], title: string): void {
  out.push('', title);
}

/** `label  value` lines with the labels padded to one width; further lines of a value line up under its first. */
export function fields(out: string[], rows: readonly (readonly [string, string])[]): void {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  for (const [k, v] of rows) {
    v.split('\n').forEach((line, i) => out.push(`  ${(i === 0 ? k : '').padEnd(width)}  ${line}`.trimEnd()));
  }
}

/** Columns as wide as their widest cell; numbers right-aligned where asked; a last left-aligned column is not padded. */
export function table(out: string[], headers: readonly string[], rows: readonly (readonly string[])[], rightAlign: readonly boolean[] = []): void {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  for (const r of all) {
    const cells = headers.map((_, i) => {
      const cell = r[i] ?? '';
      if (rightAlign[i]) return cell.padStart(widths[i] ?? 0);
      return i === headers.length - 1 ? cell : cell.padEnd(widths[i] ?? 0);
    });
    out.push(`  ${cells.join('  ')}`.trimEnd());
  }
}

/** "400ms ago", "12s ago", "3m04s ago"; "in 2s" for a time after `now` (one clock makes both, but be safe). */
export function ago(now: number, iso: string | undefined): string {
  if (iso === undefined) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = now - t;
  return diff >= 0 ? `${ms(diff)} ago` : `in ${ms(-diff)}`;
}

/** Milliseconds as an operator reads them: 850ms, 1.5s, 12s, 3m04s, 1h02m, 2d03h. */
export function ms(value: number): string {
  if (value < 1000) return `${Math.round(value * 10) / 10}ms`;
  if (value < 10_000) return `${Math.round(value / 100) / 10}s`;
  return duration(value);
}

export function duration(value: number): string {
  const s = Math.floor(value / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
