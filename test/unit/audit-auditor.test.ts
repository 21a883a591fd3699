import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { SnatAuditor } from '../../src/audit/auditor';
import { snatAuditComponent } from '../../src/audit/component';
import { parseAuditConfig, type AuditConfig } from '../../src/audit/config';
import { decodeConntrack, type ConntrackEvent } from '../../src/kernel/netlink/conntrack';
import { MemorySink, StreamSink, openFileSink } from '../../src/audit/sink';
import { FakeConntrackEvents } from '../../src/fakes/conntrack';
import { ErrorCodes, isGatewayError } from '../../src/errors';
import { FakeSysctl } from '../../src/fakes/sysctl';
import { FakeClock } from '../../src/model/clock';
import { createMetrics } from '../../src/observability/metrics';
import { silentLogger } from '../../src/observability/logger';
import { STATUS_SNAT, STATUS_SNAT_ASSURED, header, payload, type MessageSpec } from './audit-wire';

const WALL = Date.UTC(2024, 4, 1, 14, 2, 0);

function conn(kind: 'new' | 'destroy', sport: number, dst = '203.0.113.10', dport = 443): ConntrackEvent {
  const spec: MessageSpec = {
    kind,
    orig: { src: '100.64.1.5', dst, proto: 6, sport, dport },
    reply: { src: dst, dst: '100.64.2.7', proto: 6, sport: dport, dport: sport },
    status: kind === 'new' ? STATUS_SNAT : STATUS_SNAT_ASSURED,
    ...(kind === 'destroy' ? { counters: { orig: [3n, 180n] as [bigint, bigint], reply: [2n, 120n] as [bigint, bigint] } } : {}),
  };
  const { type, flags } = header(spec);
  return decodeConntrack(type, flags, payload(spec)) ?? assert.fail('decoded');
}

async function metric(metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value;
}

function setup(config: Partial<AuditConfig> = {}, sysctl = new FakeSysctl(undefined, {})) {
  const clock = new FakeClock(1_000);
  const source = new FakeConntrackEvents();
  const sink = new MemorySink();
  const metrics = createMetrics({ processMetrics: false });
  const auditor = new SnatAuditor({
    config: { destination: 'stdout', ratePerSecond: 1000, burst: 1000, ...config },
    source,
    sink,
    metrics,
    logger: silentLogger(),
    clock,
    wallClock: () => WALL,
    nodeFor: (ip) => (ip.text.startsWith('100.64.1.') ? 'node1' : undefined),
    sysctl,
  });
  return { clock, source, sink, metrics, auditor, sysctl };
}

describe('SnatAuditor', () => {
  it('switches on conntrack accounting, subscribes, writes a JSON line per start and end, and keeps the metrics', async () => {
    const { source, sink, metrics, auditor, sysctl } = setup();
    await auditor.start();
    assert.equal(sysctl.dump(), 'net/netfilter/nf_conntrack_acct = 1\nnet/netfilter/nf_conntrack_timestamp = 1\n');
    assert.equal(source.dump(), 'state: subscribed\ndumps: 1\ntable:\n\n');
    source.emit(conn('new', 40000));
    source.emit(conn('new', 40001));
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_active'), 2);
    source.emit(conn('destroy', 40000));
    assert.deepEqual(
      sink.records().map((r) => [r.event, r.clientIp, r.clientPort, r.clientNode, r.egressIp, r.egressPort, r.dstIp, r.dstPort, r.bytesOut, r.bytesIn]),
      [
        ['start', '100.64.1.5', 40000, 'node1', '100.64.2.7', 40000, '203.0.113.10', 443, undefined, undefined],
        ['start', '100.64.1.5', 40001, 'node1', '100.64.2.7', 40001, '203.0.113.10', 443, undefined, undefined],
        ['end', '100.64.1.5', 40000, 'node1', '100.64.2.7', 40000, '203.0.113.10', 443, 180, 120],
      ],
    );
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_active'), 1);
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_started_total', { protocol: 'tcp' }), 2);
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_ended_total', { protocol: 'tcp' }), 1);
    assert.equal(await metric(metrics, 'egress_gateway_audit_log_lines_total', { event: 'start' }), 2);
    assert.equal(await metric(metrics, 'egress_gateway_audit_log_lines_total', { event: 'end' }), 1);
    await auditor.stop();
    assert.equal(source.dump(), 'state: closed\ndumps: 1\ntable:\n\n');
    assert.ok(sink.closed);
    source.emit(conn('new', 40002));
    assert.equal(sink.lines.length, 3, 'nothing after stop');
  });

  it('a connection storm: lines beyond the rate are dropped and counted, and the bucket refills with time', async () => {
    const { clock, source, sink, metrics, auditor } = setup({ ratePerSecond: 10, burst: 5 });
    await auditor.start();
    for (let p = 0; p < 20; p++) source.emit(conn('new', 41000 + p));
    assert.equal(sink.lines.length, 5);
    assert.equal(await metric(metrics, 'egress_gateway_audit_log_dropped_total', { reason: 'rate_limit' }), 15);
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_active'), 20, 'dropped lines still count as connections');
    clock.advance(300);
    for (let p = 0; p < 5; p++) source.emit(conn('destroy', 41000 + p));
    assert.equal(sink.lines.length, 8, '3 tokens after 300 ms at 10/s');
    await auditor.stop();
  });

  it('a slow reader and a failed write drop lines with their own reasons', async () => {
    const { source, sink, metrics, auditor } = setup();
    await auditor.start();
    sink.refuse = 'backpressure';
    source.emit(conn('new', 40000));
    sink.refuse = 'failed';
    source.emit(conn('new', 40001));
    assert.equal(await metric(metrics, 'egress_gateway_audit_log_dropped_total', { reason: 'backpressure' }), 1);
    assert.equal(await metric(metrics, 'egress_gateway_audit_log_dropped_total', { reason: 'write_error' }), 1);
    await auditor.stop();
  });

  it('an overrun (ENOBUFS) is counted and repaired from a dump; malformed messages are counted', async () => {
    const { source, metrics, auditor } = setup();
    source.table = [conn('new', 39000)]; // there before the daemon: adopted without a line
    await auditor.start();
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_active'), 1);
    source.emit(conn('new', 40000));
    source.emit(conn('new', 40001));
    source.table = [conn('new', 39000), conn('new', 40001), conn('new', 40002)]; // 40000 ended, 40002 started, unseen
    source.overrun();
    await auditor.whenIdle();
    assert.equal(await metric(metrics, 'egress_gateway_conntrack_event_overruns_total'), 1);
    assert.match(auditor.tracker.dump(), /^connections:\ntcp 100\.64\.1\.5:39000 .*\ntcp 100\.64\.1\.5:40001 .*\ntcp 100\.64\.1\.5:40002 .*\nport use:/);
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_active'), 3);
    assert.equal(await metric(metrics, 'egress_gateway_snat_connections_ended_total', { protocol: 'tcp' }), 1);
    source.malformed(new Error('cut'));
    assert.equal(await metric(metrics, 'egress_gateway_conntrack_malformed_messages_total'), 1);
    assert.equal(source.dump().split('\n')[1], 'dumps: 2');
    await auditor.stop();
  });

  it('a failed dump or sysctl only warns; a refused subscription fails the start', async () => {
    const sysctl = new FakeSysctl(undefined, {});
    sysctl.set = async () => {
      throw new Error('read-only file system');
    };
    const a = setup({}, sysctl);
    a.source.dumpError = new Error('EPERM');
    await a.auditor.start();
    a.source.emit(conn('new', 40000));
    assert.equal(a.sink.lines.length, 1);
    await a.auditor.stop();

    const b = setup();
    b.source.openError = new Error('EPERM');
    await assert.rejects(b.auditor.start(), /EPERM/);
  });

  it('the source-port gauge holds the top destinations only, and drops the ones that fell out', async () => {
    const { clock, source, metrics, auditor } = setup();
    await auditor.start();
    for (let d = 0; d < 25; d++) for (let p = 0; p <= d; p++) source.emit(conn('new', 40000 + p, `198.51.100.${d + 1}`, 80));
    clock.advance(5_000);
    const series = async (): Promise<string[]> =>
      ((await metrics.registry.getSingleMetric('egress_gateway_snat_source_ports_in_use')?.get())?.values ?? []).map((v) => `${v.labels.destination}=${v.value}`);
    const top = await series();
    assert.equal(top.length, 20);
    assert.ok(top.includes('198.51.100.25:80=25') && top.includes('198.51.100.6:80=6') && !top.includes('198.51.100.5:80=5'), top.join(' '));
    assert.equal(await metric(metrics, 'egress_gateway_snat_source_ports_in_use_max'), 25);
    assert.equal(await metric(metrics, 'egress_gateway_snat_destinations'), 25);
    for (let p = 0; p < 25; p++) source.emit(conn('destroy', 40000 + p, '198.51.100.25', 80));
    clock.advance(5_000);
    const after = await series();
    assert.ok(!after.some((s) => s.startsWith('198.51.100.25:')) && after.includes('198.51.100.5:80=5'), after.join(' '));
    assert.equal(await metric(metrics, 'egress_gateway_snat_source_ports_in_use_max'), 24);
    await auditor.stop();
  });
});

describe('audit config', () => {
  it('off unless AUDIT_LOG is set; stdout or an absolute path; rate and burst bounded', () => {
    assert.equal(parseAuditConfig({}), undefined);
    assert.equal(parseAuditConfig({ AUDIT_LOG: ' ' }), undefined);
    assert.equal(parseAuditConfig({ AUDIT_LOG: 'off' }), undefined);
    assert.deepEqual(parseAuditConfig({ AUDIT_LOG: 'stdout' }), { destination: 'stdout', ratePerSecond: 1000, burst: 10000 });
    assert.deepEqual(parseAuditConfig({ AUDIT_LOG: '/var/log/egress/audit.jsonl', AUDIT_LOG_RATE: '50', AUDIT_LOG_BURST: '200' }), {
      destination: { path: '/var/log/egress/audit.jsonl' },
      ratePerSecond: 50,
      burst: 200,
    });
    for (const [env, named] of [
      [{ AUDIT_LOG: 'audit.log' }, 'AUDIT_LOG'],
      [{ AUDIT_LOG: 'stdout', AUDIT_LOG_RATE: '0' }, 'AUDIT_LOG_RATE'],
      [{ AUDIT_LOG: 'stdout', AUDIT_LOG_BURST: 'lots' }, 'AUDIT_LOG_BURST'],
    ] as const) {
      assert.throws(
        () => parseAuditConfig(env),
        (err: unknown) => isGatewayError(err, ErrorCodes.CONFIG_INVALID) && err.message.startsWith(`${named}=`),
      );
    }
  });
});

describe('audit sinks', () => {
  it('a file sink appends lines; a path it cannot open fails naming AUDIT_LOG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-audit-'));
    try {
      const path = join(dir, 'audit.jsonl');
      const a = openFileSink(path);
      assert.equal(a.write('{"n":1}'), 'written');
      await a.close();
      const b = openFileSink(path);
      b.write('{"n":2}');
      await b.close();
      assert.equal(readFileSync(path, 'utf8'), '{"n":1}\n{"n":2}\n');
      assert.throws(
        () => openFileSink(join(dir, 'missing', 'audit.jsonl')),
        (err: unknown) => isGatewayError(err, ErrorCodes.CONFIG_INVALID) && /^AUDIT_LOG=.*ENOENT/.test(err.message),
      );
      // A link planted at the path is refused, and what it points at is left alone (issue 12).
      const target = join(dir, 'not-a-log');
      writeFileSync(target, 'keep');
      symlinkSync(target, join(dir, 'link.jsonl'));
      assert.throws(
        () => openFileSink(join(dir, 'link.jsonl')),
        (err: unknown) => isGatewayError(err, ErrorCodes.CONFIG_INVALID) && /^AUDIT_LOG=".*link\.jsonl": it is a symbolic link/.test(err.message),
      );
      assert.equal(readFileSync(target, 'utf8'), 'keep');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stream sink refuses lines while too much is queued, and fails after a write error', async () => {
    const pending: (() => void)[] = [];
    let errors = 0;
    const slow = new Writable({ highWaterMark: 16, write: (_c, _e, cb) => void pending.push(cb) });
    const sink = new StreamSink(slow, { owned: true, maxQueuedBytes: 20, onError: () => errors++ });
    assert.equal(sink.write('0123456789'), 'written');
    assert.equal(sink.write('0123456789'), 'written');
    assert.equal(sink.write('0123456789'), 'backpressure', '22 bytes queued');
    while (pending.length) pending.shift()?.();
    assert.equal(sink.write('0123456789'), 'written');
    slow.destroy(new Error('EPIPE'));
    await new Promise((r) => setImmediate(r));
    assert.equal(errors, 1);
    assert.equal(sink.write('x'), 'failed');
  });
});

describe('snatAuditComponent', () => {
  it('starts and stops the auditor with the fakes wired in', async () => {
    const source = new FakeConntrackEvents();
    const sink = new MemorySink();
    const c = snatAuditComponent(
      { destination: 'stdout', ratePerSecond: 10, burst: 10 },
      { metrics: createMetrics({ processMetrics: false }), logger: silentLogger(), clock: new FakeClock(), nodeFor: () => 'node1', source, sink, sysctl: new FakeSysctl(undefined, {}) },
    );
    await c.start?.(new AbortController().signal);
    source.emit(conn('new', 40000));
    assert.equal(sink.records()[0]?.clientNode, 'node1');
    await c.stop?.();
    assert.equal(sink.dump().endsWith('(closed)\n'), true);
  });
});
