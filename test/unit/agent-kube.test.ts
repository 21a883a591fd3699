/**
 * The agent against the stand-in API server over real HTTP, with the real client library: annotation
 * added and removed, a gateway going unready, a watch cut mid-stream, 410 Gone and the relist, the
 * route feed once a gateway runs on the node. The dataplane and the PolicySync server are fakes that
 * record what they are given.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/agent';
import { kubeWatchFactory } from '../../src/agent/kube/sources';
import { createAgentMetrics } from '../../src/agent/metrics';
import type { RouteFeedServer, SteeringDataplane } from '../../src/agent/ports';
import { routeFeedText } from '../../src/agent/route-feed';
import { parseAgentConfig } from '../../src/config/agent-config';
import { systemClock } from '../../src/model/clock';
import type { FelixRoute, FelixVtep } from '../../src/model/felix';
import { steeringSpecText, type SteeringSpec } from '../../src/model/steering';
import { ipamBlockObject, ipPoolObject, namespaceObject, nodeObject, podObject } from '../lab/kube-api/objects';
import { KubeApiServer, kubeconfigFor } from '../lab/kube-api/server';
import { until } from './wait';

const SEL = 'egress.projectcalico.org/selector';

class RecordingDataplane implements SteeringDataplane {
  readonly specs: string[] = [];
  failNext = 0;
  apply(spec: SteeringSpec): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('injected kernel failure'));
    }
    this.specs.push(steeringSpecText(spec));
    return Promise.resolve();
  }
  get last(): string {
    return this.specs[this.specs.length - 1] ?? '';
  }
}

class RecordingFeed implements RouteFeedServer {
  readonly replaced: string[] = [];
  inSyncCalls = 0;
  started = false;
  start(): Promise<void> {
    this.started = true;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  replace(routes: readonly FelixRoute[], vteps: readonly FelixVtep[]): void {
    this.replaced.push(routeFeedText({ routes, vteps }));
  }
  inSync(): void {
    this.inSyncCalls++;
  }
}

describe('agent against the stand-in Kubernetes API', () => {
  let api: KubeApiServer;
  let agent: Agent;
  let dir: string;
  const dataplane = new RecordingDataplane();
  const feed = new RecordingFeed();
  const probeAnswers = new Map<string, boolean>();
  const device = 'device node1 vni 4097 port 4790 local 198.51.100.11\nbypass 100.64.0.0/16,198.51.100.11/32,198.51.100.12/32';
  const metrics = createAgentMetrics({ processMetrics: false });
  /** One sample of the agent's metrics, as a scrape shows it ('' when absent). */
  const sample = async (line: RegExp): Promise<string> => (await metrics.registry.metrics()).split('\n').find((l) => line.test(l)) ?? '';

  before(async () => {
    api = await KubeApiServer.start({ bookmarkIntervalMs: 200 });
    dir = mkdtempSync(join(tmpdir(), 'agent-kube-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfig());
    const s = api.store;
    s.create('namespaces', namespaceObject('default'));
    s.create('namespaces', namespaceObject('egress'));
    s.create('nodes', nodeObject('node1', '198.51.100.11'));
    s.create('nodes', nodeObject('node2', '198.51.100.12'));
    s.create('pods', podObject({ name: 'client', node: 'node1', ips: ['100.64.1.5'] }));
    s.create('pods', podObject({ name: 'other-node', node: 'node2', ips: ['100.64.2.5'], annotations: { [SEL]: 'all()' } }));
    s.create('pods', podObject({ name: 'gw-a', node: 'node2', ips: ['100.64.2.7'], labels: { 'egress-gateway.io/gateway': 'true', color: 'red' }, healthPort: 8080 }));
    s.create('ipamblocks', ipamBlockObject('100.64.1.0/26', 'node1', { 5: 'node1' }));
    s.create('ipamblocks', ipamBlockObject('100.64.2.0/26', 'node2', { 5: 'node2', 7: 'node2' }));
    s.create('ippools', ipPoolObject('default-pool', '100.64.0.0/16'));
    // Felix's way (poll only): these are the API's semantics; the stream and echo have their own tests.
    const config = parseAgentConfig({
      NODE_NAME: 'node1',
      KUBECONFIG: kubeconfig,
      AGENT_GATEWAY_POLL_INTERVAL: '100ms',
      AGENT_GATEWAY_POLL_TIMEOUT: '50ms',
      AGENT_GATEWAY_STREAM: 'false',
      AGENT_GATEWAY_ECHO_INTERVAL: '0',
    });
    const logger = pino({ level: 'silent' });
    agent = new Agent(config, {
      clock: systemClock,
      logger,
      metrics,
      watches: await kubeWatchFactory(config.kubeconfig, { clock: systemClock, logger }),
      dataplane,
      feed,
      probe: (url) => Promise.resolve(probeAnswers.get(url) === false ? { ok: false, detail: 'HTTP 503' } : { ok: true, detail: 'HTTP 200' }),
      debounceMs: 10,
    });
    await agent.start();
  });

  after(async () => {
    await agent.stop();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists then watches, with the selectors the scale plan relies on, and never lists on a timer', async () => {
    await until('the first spec', () => dataplane.specs.length > 0);
    await until('six watches open', () => api.openWatches >= 6);
    assert.equal(dataplane.last, device);
    assert.equal(agent.readiness().ready, true, JSON.stringify(agent.readiness()));
    const gets = api.requests.filter((r) => r.method === 'GET');
    const pods = gets.filter((r) => r.path === '/api/v1/pods');
    assert.ok(pods.some((r) => r.query.fieldSelector === 'spec.nodeName=node1' && r.query.watch === undefined), 'a field-selected list of local pods');
    assert.ok(pods.some((r) => r.query.fieldSelector === 'spec.nodeName=node1' && r.query.watch === 'true' && r.query.allowWatchBookmarks === 'true'), 'a field-selected watch with bookmarks');
    assert.ok(pods.some((r) => r.query.labelSelector === 'egress-gateway.io/gateway=true' && r.query.watch === 'true'), 'a label-selected gateway watch');
    assert.ok(gets.some((r) => r.path === '/api/v1/nodes' && r.query.fieldSelector === 'metadata.name=node1' && r.accept === 'application/json'), 'its own node whole');
    // Every node, for their addresses: metadata only, list and watch.
    const allNodes = gets.filter((r) => r.path === '/api/v1/nodes' && r.query.fieldSelector === undefined);
    assert.ok(allNodes.some((r) => r.query.watch === undefined && r.accept?.startsWith('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1')), JSON.stringify(allNodes));
    assert.ok(allNodes.some((r) => r.query.watch === 'true' && r.accept?.startsWith('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1')), JSON.stringify(allNodes));
    assert.ok(allNodes.every((r) => r.accept?.includes('as=PartialObjectMetadata')), 'never whole nodes of the cluster');
    assert.ok(!gets.some((r) => r.path === '/api/v1/pods' && r.query.fieldSelector === undefined && r.query.labelSelector === undefined), 'never every pod of the cluster');
    assert.ok(!gets.some((r) => r.path.includes('ipamblocks')), 'no IPAM blocks without a local gateway');
    const lists = gets.filter((r) => r.query.watch === undefined).length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(api.requests.filter((r) => r.method === 'GET' && r.query.watch === undefined).length, lists, 'no list while nothing fails');
  });

  it("every node's Calico address stays direct: a node that joins is bypassed, one that goes is not", async () => {
    api.store.create('nodes', nodeObject('node3', '198.51.100.13'));
    await until('node3 bypassed', () => dataplane.last.startsWith(`${device},198.51.100.13/32`));
    api.store.delete('nodes', undefined, 'node3');
    await until('node3 gone', () => dataplane.last === device);
  });

  it('annotation added: the pod is steered to the gateway; removed: unsteered', async () => {
    api.store.patch('pods', 'default', 'client', { metadata: { annotations: { [SEL]: "color == 'red'" } } });
    await until('steered', () => dataplane.last === `${device}\nclient default/client ips 100.64.1.5 gateways 100.64.2.7`);
    api.store.patch('pods', 'default', 'client', { metadata: { annotations: { [SEL]: null } } });
    await until('unsteered', () => dataplane.last === device);
  });

  it("the namespace's annotation steers; a bad selector leaves the pod unsteered, reported", async () => {
    api.store.patch('namespaces', undefined, 'default', { metadata: { annotations: { [SEL]: "color == 'red'" } } });
    await until('steered by the namespace', () => dataplane.last.endsWith('client default/client ips 100.64.1.5 gateways 100.64.2.7'));
    api.store.patch('namespaces', undefined, 'default', { metadata: { annotations: { [SEL]: "color = 'red'" } } });
    await until('not steered', () => dataplane.last === device);
    const report = agent.snapshot().plan?.clients.find((c) => c.pod === 'default/client');
    assert.equal(report?.steered, false);
    assert.match(report.problem ?? '', /expected "==" at column 7: does not parse, not steered/);
    // Counted once while it lasts, however many passes run meanwhile: a node that joins and goes makes two.
    api.store.create('nodes', nodeObject('node3', '198.51.100.13'));
    await until('a pass with node3', () => dataplane.last.startsWith(`${device},198.51.100.13/32`));
    api.store.delete('nodes', undefined, 'node3');
    await until('a pass without it', () => dataplane.last === device);
    assert.equal(await sample(/^egress_gateway_agent_annotation_errors_total\{annotation="selector"\} /), 'egress_gateway_agent_annotation_errors_total{annotation="selector"} 1');
    assert.equal(await sample(/^egress_gateway_agent_invalid_annotation_pods /), 'egress_gateway_agent_invalid_annotation_pods 1');
    api.store.patch('namespaces', undefined, 'default', { metadata: { annotations: { [SEL]: "color == 'red'" } } });
    await until('steered again', () => dataplane.last.endsWith('gateways 100.64.2.7'));
    assert.equal(await sample(/^egress_gateway_agent_invalid_annotation_pods /), 'egress_gateway_agent_invalid_annotation_pods 0');
    assert.equal(await sample(/^egress_gateway_agent_annotation_errors_total\{annotation="selector"\} /), 'egress_gateway_agent_annotation_errors_total{annotation="selector"} 1', 'a counter: the fix does not take it back');
  });

  it('gateway unready by its /readiness poll: no gateway, failed closed; ready again: back', async () => {
    probeAnswers.set('http://100.64.2.7:8080/readiness', false);
    await until('failed closed after three failed polls', () => dataplane.last.endsWith('gateways none'), 5_000);
    assert.equal(agent.health.get('default/gw-a')?.state, 'down');
    probeAnswers.set('http://100.64.2.7:8080/readiness', true);
    await until('back after one success', () => dataplane.last.endsWith('gateways 100.64.2.7'), 5_000);
  });

  it('gateway unready in Kubernetes, or deleted: failed closed at once', async () => {
    api.store.patch('pods', 'default', 'gw-a', { status: { conditions: [{ type: 'Ready', status: 'False' }] } });
    await until('closed on Ready=False', () => dataplane.last.endsWith('gateways none'));
    api.store.patch('pods', 'default', 'gw-a', { status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    await until('back', () => dataplane.last.endsWith('gateways 100.64.2.7'));
  });

  it('a watch cut mid-stream: the agent watches again from where it was, without listing', async () => {
    const listsBefore = api.requests.filter((r) => r.query.watch === undefined).length;
    const watchesBefore = api.requests.filter((r) => r.query.watch === 'true').length;
    assert.ok(api.cutWatches() >= 6);
    await until('watches re-opened', () => api.openWatches >= 6 && api.requests.filter((r) => r.query.watch === 'true').length >= watchesBefore + 6, 5_000);
    const rewatch = api.requests.filter((r) => r.query.watch === 'true').slice(watchesBefore);
    assert.ok(rewatch.every((r) => r.query.resourceVersion !== '' && r.query.resourceVersion !== '0'), 'from the last resourceVersion seen');
    assert.equal(api.requests.filter((r) => r.query.watch === undefined).length, listsBefore, 'no relist for a cut');
    api.store.patch('pods', 'default', 'client', { metadata: { annotations: { [SEL]: "color == 'blue'" } } });
    await until('a change after the cut arrives', () => dataplane.last.endsWith('client default/client ips 100.64.1.5 gateways none'));
    api.store.patch('pods', 'default', 'client', { metadata: { annotations: { [SEL]: null } } });
    await until('and the next', () => dataplane.last.endsWith('gateways 100.64.2.7'));
  });

  it('410 Gone: the history is compacted while the watches are down; the agent lists again and catches up', async () => {
    const listsBefore = api.requests.filter((r) => r.query.watch === undefined).length;
    // Changes the agent misses while disconnected, then the history forgets them.
    api.cutWatches();
    api.store.patch('namespaces', undefined, 'default', { metadata: { annotations: { [SEL]: null } } });
    api.store.create('pods', podObject({ name: 'client2', node: 'node1', ips: ['100.64.1.6'], annotations: { [SEL]: "color == 'red'" } }));
    api.compact();
    api.cutWatches();
    await until('the relist caught up', () => dataplane.last === `${device}\nclient default/client2 ips 100.64.1.6 gateways 100.64.2.7`, 10_000);
    const relists = api.requests.filter((r) => r.query.watch === undefined).slice(listsBefore);
    assert.ok(relists.length > 0, 'listed again');
    assert.ok(relists.every((r) => r.query.resourceVersion === ''), 'a relist asks for the latest state, not the cache');
  });

  it('a failing list is retried with a backoff', async () => {
    api.failNext(1);
    api.cutWatches();
    api.store.patch('pods', 'default', 'client2', { metadata: { annotations: { [SEL]: null } } });
    api.compact();
    await until('caught up after the retry', () => dataplane.last === device, 10_000);
    assert.ok(agent.snapshot().watches.some((w) => (w.lastError ?? '').includes('500')), JSON.stringify(agent.snapshot().watches));
  });

  it('a gateway on this node: the route feed watches start, the feed goes out, then in_sync once', async () => {
    assert.equal(feed.inSyncCalls, 0);
    api.store.create('pods', podObject({ name: 'gw-local', node: 'node1', ips: ['100.64.1.7'], labels: { 'egress-gateway.io/gateway': 'true' }, healthPort: 8080 }));
    api.store.patch('ipamblocks', undefined, '100-64-1-0-26', { spec: { allocations: [null, null, null, null, null, 0, null, 1], attributes: [{ handle_id: 'a', secondary: { node: 'node1' } }, { handle_id: 'b', secondary: { node: 'node1' } }] } });
    await until('in sync', () => feed.inSyncCalls === 1, 10_000);
    assert.equal(
      feed.replaced[feed.replaced.length - 1],
      [
        'route remote_workload 100.64.1.5/32 node node1 198.51.100.11 pool no_encap',
        'route local_workload 100.64.1.7/32 node node1 198.51.100.11 pool no_encap',
        'route remote_workload 100.64.2.0/26 node node2 198.51.100.12 pool no_encap',
      ].join('\n'),
    );
    // in_sync follows the blocks' list; the watch request that resumes from it may reach the API a moment later.
    await until('the ipamblocks watch', () => api.requests.some((r) => r.path === '/apis/crd.projectcalico.org/v1/ipamblocks' && r.query.watch === 'true'));
    // A block change reaches the feed.
    api.store.create('ipamblocks', ipamBlockObject('100.64.3.0/26', 'node2'));
    await until('the new block in the feed', () => (feed.replaced[feed.replaced.length - 1] ?? '').includes('100.64.3.0/26'));
    assert.equal(feed.inSyncCalls, 1);
    // The gateway goes: the feed watches stop.
    api.store.delete('pods', 'default', 'gw-local');
    await until('feed watches closed', () => api.watchesOf('ipamblocks') === 0);
  });

  it('a failed apply is retried, and readiness says why meanwhile', async () => {
    // Failing until told otherwise: any pass (a retry, or one a gateway's health change asks for)
    // could otherwise succeed before readiness is looked at.
    dataplane.failNext = Infinity;
    api.store.patch('pods', 'default', 'client', { metadata: { annotations: { [SEL]: "color == 'red'" } } });
    await until('not ready', () => agent.readiness().failing.includes('dataplane'));
    dataplane.failNext = 0;
    await until('applied after the retry', () => dataplane.last.endsWith('client default/client ips 100.64.1.5 gateways 100.64.2.7'), 5_000);
    await until('ready again', () => agent.readiness().ready);
  });

  it("a quiet pods watch keeps up through bookmarks: after compaction and a cut it resumes at the bookmark's version, without a list", async () => {
    const podsWatch = (r: { path: string; query: Readonly<Record<string, string>> }): boolean => r.path === '/api/v1/pods' && r.query.fieldSelector === 'spec.nodeName=node1';
    const listsBefore = api.requests.filter((r) => r.query.watch === undefined).length;
    const watchesBefore = api.requests.filter((r) => r.query.watch === 'true').length;
    // Other resources change; no pod of this node does, so the pods watch sees no event of its own.
    api.store.create('nodes', nodeObject('node3', '198.51.100.13'));
    await until('node3 bypassed', () => dataplane.last.startsWith(`${device},198.51.100.13/32`));
    api.store.delete('nodes', undefined, 'node3');
    api.store.patch('namespaces', undefined, 'egress', { metadata: { labels: { team: 'blue' } } });
    await until('node3 gone', () => dataplane.last.startsWith(`${device}\n`));
    const latest = api.store.resourceVersion;
    // Past several of the stand-in's bookmark intervals (200 ms): each watch has been told `latest`.
    await new Promise((r) => setTimeout(r, 1_000));
    api.compact();
    assert.ok(api.cutWatches() >= 6);
    await until('watches re-opened', () => api.openWatches >= 6 && api.requests.filter((r) => r.query.watch === 'true').length >= watchesBefore + 6, 5_000);
    const rewatch = api.requests.filter((r) => r.query.watch === 'true').slice(watchesBefore);
    const pods = rewatch.filter(podsWatch);
    assert.ok(pods.length > 0, 'the pods watch re-opened');
    assert.ok(pods.every((r) => r.query.resourceVersion === latest), `from the bookmark's version ${latest}: ${JSON.stringify(pods.map((r) => r.query.resourceVersion))}`);
    // A 410 would show as a list; give one the time to come.
    await new Promise((r) => setTimeout(r, 300));
    const lists = api.requests.filter((r) => r.query.watch === undefined).slice(listsBefore);
    assert.deepEqual(lists.filter(podsWatch), [], 'no relist of the pods');
    assert.deepEqual(lists, [], 'nor of any other quiet watch');
    // And the resumed watch carries what comes next.
    api.store.patch('pods', 'default', 'client', { metadata: { annotations: { [SEL]: null } } });
    await until('unsteered through the resumed watch', () => dataplane.last === device);
  });
});

describe('a watch stopped while it connects', () => {
  it('is aborted once its response begins, not left open until the server times it out', async () => {
    // A server slower than the agent's stop: the watch's response headers come 300 ms after the request.
    let watchClosed: Promise<void> | undefined;
    const server = createServer((req, res) => {
      if (!req.url?.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
        return;
      }
      watchClosed = new Promise((resolve) => res.on('close', () => resolve()));
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
      }, 300);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'agent-watch-'));
    try {
      const port = (server.address() as AddressInfo).port;
      writeFileSync(join(dir, 'kubeconfig'), kubeconfigFor(`http://127.0.0.1:${port}`));
      const factory = await kubeWatchFactory(join(dir, 'kubeconfig'), { clock: systemClock, logger: pino({ level: 'silent' }) });
      const w = factory.create({ name: 'nodes', path: '/api/v1/nodes' }, { upsert: () => undefined, remove: () => undefined, synced: () => undefined });
      w.start();
      await until('the watch request arrives', () => watchClosed !== undefined);
      await w.stop();
      const t0 = Date.now();
      await Promise.race([watchClosed, new Promise((_, reject) => setTimeout(() => reject(new Error('the watch connection is still open 3 s after stop()')), 3000))]);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
