import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentSnapshot } from '../../src/agent/agent';
import { gatewayVerdict, newEchoRecord, newStreamRecord, type GatewaySignals } from '../../src/agent/gateway-health/state';
import { buildAgentStatus, renderAgentStatusTable } from '../../src/agent/status';
import { parseAgentConfig } from '../../src/config/agent-config';
import { gateway } from './agent-fixtures';

/** `status` per gateway: each signal's state and when it changed, the verdict and which signal made it. */
describe('agent status: the gateways and their signals', () => {
  const WALL = Date.UTC(2026, 11, 1, 12, 0, 0);
  const NOW = 100_000;
  const config = parseAgentConfig({ NODE_NAME: 'node1' });
  const a = gateway('default/gw-a', '100.64.2.7');
  const b = gateway('default/gw-b', '100.64.2.8');
  const sa: GatewaySignals = {
    kube: { ready: true, deleting: false, since: 10_000 },
    stream: { ...newStreamRecord(0), state: 'live', ready: true, draining: false, failing: [], since: 40_000, connects: 2 },
    echo: { ...newEchoRecord(0), state: 'up', since: 41_000, answered: 9, sent: 9, lastRttMs: 0.21 },
  };
  const sb: GatewaySignals = {
    kube: { ready: true, deleting: false, since: 10_000 },
    stream: { ...newStreamRecord(0), state: 'lost', since: 98_000, lastError: '3 echoes unanswered' },
    echo: { ...newEchoRecord(0), state: 'down', since: 98_000, misses: 3, sent: 20, answered: 17, lastError: 'no answer within 100 ms' },
  };
  const snapshot: AgentSnapshot = {
    phase: 'running',
    watches: [],
    feedInSync: false,
    localGateways: [],
    gateways: [
      { pod: a, signals: sa, verdict: gatewayVerdict(a, sa, NOW, 5000) },
      { pod: b, signals: sb, verdict: gatewayVerdict(b, sb, NOW, 5000) },
    ],
  };
  const doc = buildAgentStatus({ version: 'test', pid: 1, wallNow: WALL, clockNow: NOW, uptimeMs: NOW, config, readiness: { ready: true, checks: {}, failing: [] }, snapshot });

  it('the document: state and since per signal, the verdict, whether the flows stay', () => {
    const [ga, gb] = doc.gateways;
    assert.ok(ga && gb);
    assert.deepEqual(ga.signals, {
      kube: { state: 'Ready', since: new Date(WALL - 90_000).toISOString() },
      stream: { state: 'live, ready', since: new Date(WALL - 60_000).toISOString(), detail: '2 connect(s)' },
      echo: { state: 'up', since: new Date(WALL - 59_000).toISOString(), detail: 'rtt 0.21 ms' },
    });
    assert.deepEqual([ga.usable, ga.keepFlows, ga.decidedBy], [true, true, 'stream']);
    assert.deepEqual([gb.usable, gb.keepFlows, gb.decidedBy, gb.reason], [false, true, 'stream', 'unreachable: stream lost (3 echoes unanswered)']);
    assert.equal(gb.signals.echo?.detail, '3 missed: no answer within 100 ms');
  });

  it('the table: a row per gateway with every signal and how long ago it changed', () => {
    const text = renderAgentStatusTable(doc);
    assert.match(text, /GATEWAY\s+NODE\s+IPS\s+NEW FLOWS\s+OLD FLOWS\s+KUBE\s+STREAM\s+ECHO\s+POLL\s+WHY/);
    assert.match(text, /default\/gw-a\s+node2\s+100\.64\.2\.7\s+yes\s+kept\s+Ready \(1m30s ago\)\s+live, ready \(1m00s ago\)\s+up \(59s ago\), rtt 0\.21 ms\s+-\s+ready \(stream\)/);
    assert.match(text, /default\/gw-b\s+node2\s+100\.64\.2\.8\s+NO\s+kept\s+Ready \(1m30s ago\)\s+lost \(2s ago\)\s+down \(2s ago\), 3 missed/);
  });
});
