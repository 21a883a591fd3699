/**
 * The agent's failover logic against the stand-in API server (real HTTP, the real client library),
 * with a real gateway's readiness stream on loopback standing in for the gateway pod's: what the spec
 * handed to the dataplane says when a gateway drains, turns 503, goes away, or is lost for longer than
 * the flows' grace (the pass the grace's end schedules by itself).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/agent';
import type { StreamTransport } from '../../src/agent/gateway-health/stream';
import { httpStreamTransport } from '../../src/agent/gateway-health/stream';
import { kubeWatchFactory } from '../../src/agent/kube/sources';
import { createAgentMetrics } from '../../src/agent/metrics';
import { parseAgentConfig } from '../../src/config/agent-config';
import type { ReadinessReport } from '../../src/health/readiness';
import { startHealthServer, type HealthServer } from '../../src/health/server';
import { ReadinessStreams, streamStateOf } from '../../src/health/stream';
import { systemClock } from '../../src/model/clock';
import { createMetrics } from '../../src/observability/metrics';
import { steeringSpecText, type SteeringSpec } from '../../src/model/steering';
import { namespaceObject, nodeObject, podObject } from '../lab/kube-api/objects';
import { KubeApiServer } from '../lab/kube-api/server';
import { until } from './wait';

const SEL = 'egress.projectcalico.org/selector';

describe('agent failover against the stand-in API and a real readiness stream', () => {
  let api: KubeApiServer;
  let agent: Agent;
  let dir: string;
  let gateway: HealthServer;
  let streams: ReadinessStreams;
  let report: ReadinessReport = { ready: true, checks: {}, failing: [] };
  const specs: string[] = [];
  const last = (): string => specs[specs.length - 1] ?? '';
  /** The spec's lines that failover changes: the flows kept, the client's gateways. */
  const body = (): string =>
    last()
      .split('\n')
      .filter((l) => l.startsWith('keep') || l.startsWith('client'))
      .join('\n');
  const metrics = createAgentMetrics({ processMetrics: false });

  before(async () => {
    api = await KubeApiServer.start({ bookmarkIntervalMs: 200 });
    dir = mkdtempSync(join(tmpdir(), 'agent-failover-'));
    writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
    // The gateway gw-a's health port, on loopback: every stream the agent opens to 100.64.2.7:8080 lands here.
    streams = new ReadinessStreams({ clock: systemClock, current: () => streamStateOf(report), maxStreams: 10 });
    gateway = (await startHealthServer(
      { port: 18_080 + Math.floor(Math.random() * 1000), host: '127.0.0.1' },
      { readiness: { report: () => report }, metrics: createMetrics({ processMetrics: false }), clock: systemClock, streams },
    )) as HealthServer;
    const toLoopback: StreamTransport = { open: (url, h) => httpStreamTransport.open(url.replace('100.64.2.7:8080', `127.0.0.1:${gateway.port}`), h) };
    const s = api.store;
    s.create('namespaces', namespaceObject('default', { annotations: { [SEL]: "egress-gateway.io/gateway == 'true'" } }));
    s.create('nodes', nodeObject('node1', '198.51.100.11'));
    s.create('pods', podObject({ name: 'client', node: 'node1', ips: ['100.64.1.5'] }));
    s.create('pods', podObject({ name: 'gw-a', node: 'node2', ips: ['100.64.2.7'], labels: { 'egress-gateway.io/gateway': 'true' }, healthPort: 8080 }));
    s.create('pods', podObject({ name: 'gw-b', node: 'node2', ips: ['100.64.2.8'], labels: { 'egress-gateway.io/gateway': 'true' } }));
    const config = parseAgentConfig({ NODE_NAME: 'node1', KUBECONFIG: join(dir, 'kubeconfig'), AGENT_GATEWAY_ECHO_INTERVAL: '0', AGENT_FLOW_GRACE: '400ms' });
    const logger = pino({ level: 'silent' });
    agent = new Agent(config, {
      clock: systemClock,
      logger,
      metrics,
      watches: await kubeWatchFactory(config.kubeconfig, { clock: systemClock, logger }),
      dataplane: {
        apply: (spec: SteeringSpec) => {
          specs.push(steeringSpecText(spec));
          return Promise.resolve();
        },
      },
      feed: { start: () => Promise.resolve(), close: () => Promise.resolve(), replace: () => undefined, inSync: () => undefined },
      probe: () => Promise.resolve({ ok: true, detail: 'HTTP 200' }),
      streamTransport: toLoopback,
      debounceMs: 10,
    });
    await agent.start();
  });

  after(async () => {
    await agent.stop();
    await gateway.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const CLIENT = 'client default/client ips 100.64.1.5';

  it('both gateways; the stream of gw-a is live', async () => {
    await until('steered over both', () => last().endsWith(`${CLIENT} gateways 100.64.2.7,100.64.2.8`));
    await until('gw-a streamed', () => agent.health.signals('default/gw-a')?.stream?.state === 'live');
    assert.equal(streams.count, 1, 'one stream to the one gateway with a health port');
  });

  /** A sample's value from a scrape of the agent's metrics (NaN when absent). */
  const value = async (series: string): Promise<number> => {
    const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? NaN : Number(line.slice(series.length + 1));
  };
  const STREAM_SINCE = 'egress_gateway_agent_gateway_signal_since_seconds{gateway="default/gw-a",signal="stream"}';
  const TO_NOT_READY = 'egress_gateway_agent_gateway_health_changes_total{signal="stream",to="live (not ready)"}';

  it('gw-a turns 503: pushed, it takes no new flows, its flows are kept for the grace, then let go (a pass of its own)', async () => {
    const sinceLive = await value(STREAM_SINCE);
    assert.ok(Math.abs(sinceLive - Date.now() / 1000) < 10, `the stream's state began moments ago (Unix seconds): ${sinceLive}`);
    const changesBefore = (await value(TO_NOT_READY)) || 0;
    // Apart in time, so that the new state's start cannot be mistaken for the old one's.
    await new Promise((r) => setTimeout(r, 100));
    report = { ready: false, checks: {}, failing: ['icmp'] };
    streams.publish(streamStateOf(report));
    await until('gw-a out, its flows kept', () => body() === ['keep flows of 100.64.2.7', `${CLIENT} gateways 100.64.2.8`].join('\n'));
    const kept = specs.length;
    await until('the grace over: its flows let go', () => body() === `${CLIENT} gateways 100.64.2.8`, 3000);
    assert.equal(specs.length, kept + 1, 'one more pass, when the grace ran out');
    const text = await metrics.registry.metrics();
    assert.match(text, /^egress_gateway_agent_gateway_signal\{gateway="default\/gw-a",signal="stream",state="live_not_ready"\} 1$/m);
    assert.match(text, /^egress_gateway_agent_gateway_usable\{gateway="default\/gw-a"\} 0$/m);
    assert.match(text, /^egress_gateway_agent_gateway_flows_kept\{gateway="default\/gw-a"\} 0$/m);
    const sinceNotReady = await value(STREAM_SINCE);
    assert.ok(sinceNotReady - sinceLive >= 0.09, `the stream signal's since moved with its state: ${sinceLive} -> ${sinceNotReady}`);
    assert.equal(await value(TO_NOT_READY), changesBefore + 1, 'one change of the stream signal, to live (not ready)');
    report = { ready: true, checks: {}, failing: [] };
    streams.publish(streamStateOf(report));
    await until('gw-a back', () => last().endsWith(`${CLIENT} gateways 100.64.2.7,100.64.2.8`));
  });

  it('gw-a drains (SIGTERM): out at once, its flows kept for as long as its pod is in the API', async () => {
    report = { ready: false, checks: {}, failing: ['drain'] };
    streams.publish(streamStateOf(report));
    await until('draining', () => body() === ['keep flows of 100.64.2.7', `${CLIENT} gateways 100.64.2.8`].join('\n'));
    await new Promise((r) => setTimeout(r, 800));
    assert.ok(last().includes('keep flows of 100.64.2.7'), 'no grace for a drain');
    // The daemon exits: the stream ends; the pod is being deleted, then gone.
    api.store.patch('pods', 'default', 'gw-a', { metadata: { deletionTimestamp: new Date().toISOString() } });
    await gateway.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(last().includes('keep flows of 100.64.2.7'), 'still draining while its pod is being deleted');
    api.store.delete('pods', 'default', 'gw-a');
    await until('gone: its pin too', () => body() === `${CLIENT} gateways 100.64.2.8`);
  });
});
