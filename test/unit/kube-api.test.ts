/** The stand-in API server's own semantics, which the agent's tests rely on: filtered watches, 410, the process form. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeObject, podObject } from '../lab/kube-api/objects';
import { KubeApiServer, negotiate } from '../lab/kube-api/server';
import { labelsMatch, parseFieldSelector, parseLabelSelector } from '../lab/kube-api/selectors';
import { KubeStore, type WatchEvent } from '../lab/kube-api/store';
import { until } from './wait';

interface WatchLine {
  readonly type: string;
  readonly object: unknown;
}

describe('kube-api stand-in: selectors', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['a=b', { a: 'b' }, true],
    ['a==b', { a: 'c' }, false],
    ['a!=b', {}, true],
    ['a in (x, y)', { a: 'y' }, true],
    ['a notin (x)', { a: 'x' }, false],
    ['a', { a: '' }, true],
    ['!a', { a: '' }, false],
    ['a=b,c', { a: 'b' }, false],
    ['egress-gateway.io/gateway=true', { 'egress-gateway.io/gateway': 'true' }, true],
  ];
  for (const [sel, labels, want] of cases) it(`${sel} on ${JSON.stringify(labels)}`, () => assert.equal(labelsMatch(parseLabelSelector(sel), labels), want));
  it('an unsupported field is refused, as the API server does', () => {
    assert.throws(() => parseFieldSelector('spec.foo=bar', ['spec.nodeName']), /field label not supported: spec.foo/);
  });
});

describe('kube-api stand-in: watch semantics', () => {
  const filter = { labels: [], fields: parseFieldSelector('spec.nodeName=node1', ['spec.nodeName']) };
  it('a filtered watch sees an object entering and leaving its filter as ADDED and DELETED', () => {
    const s = new KubeStore();
    const seen: string[] = [];
    const w = s.watch('pods', s.resourceVersion, filter, (e: WatchEvent) => seen.push(`${e.type} ${e.object.metadata.name}`));
    s.create('pods', podObject({ name: 'p', node: 'node2', ips: ['100.64.1.5'] }));
    s.patch('pods', 'default', 'p', { spec: { nodeName: 'node1' } });
    s.patch('pods', 'default', 'p', { metadata: { labels: { x: 'y' } } });
    s.patch('pods', 'default', 'p', { spec: { nodeName: 'node3' } });
    w?.stop();
    assert.deepEqual(seen, ['ADDED p', 'MODIFIED p', 'DELETED p']);
  });
  it('replays from a resourceVersion; older than the history: undefined (the server answers 410)', () => {
    const s = new KubeStore(2);
    s.create('pods', podObject({ name: 'a', node: 'node1', ips: [] }));
    const from = s.resourceVersion;
    s.create('pods', podObject({ name: 'b', node: 'node1', ips: [] }));
    const seen: string[] = [];
    s.watch('pods', from, filter, (e) => seen.push(e.object.metadata.name))?.stop();
    assert.deepEqual(seen, ['b']);
    s.create('pods', podObject({ name: 'c', node: 'node1', ips: [] }));
    s.create('pods', podObject({ name: 'd', node: 'node1', ips: [] }));
    assert.equal(s.watch('pods', from, filter, () => undefined), undefined);
    s.compact();
    assert.equal(s.watch('pods', String(Number(s.resourceVersion) - 1), filter, () => undefined), undefined);
  });
  it('PUT with a stale resourceVersion is a conflict', () => {
    const s = new KubeStore();
    const p = s.create('pods', podObject({ name: 'a', node: 'node1', ips: [] }));
    s.patch('pods', 'default', 'a', { metadata: { labels: { x: '1' } } });
    assert.throws(() => s.replace('pods', p), /has been modified/);
  });
});

describe('kube-api stand-in: metadata-only lists and watches (as=PartialObjectMetadata)', () => {
  it('negotiates the Accept header as the API server does', () => {
    const L = 'PartialObjectMetadataList';
    assert.equal(negotiate(undefined, L), 'json');
    assert.equal(negotiate('application/json', L), 'json');
    assert.equal(negotiate('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json', L), 'metadata');
    // A list kind asked for a watch is not what a watch sends: the client's fallback (plain JSON) wins.
    assert.equal(negotiate('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json', 'PartialObjectMetadata'), 'json');
    assert.equal(negotiate('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1', 'PartialObjectMetadata'), 'metadata');
    assert.equal(negotiate('application/json;as=Table;g=meta.k8s.io;v=v1', L), 'unacceptable');
  });

  it('a list and a watch of nodes carry their metadata only', async () => {
    const api = await KubeApiServer.start();
    try {
      api.store.create('nodes', nodeObject('node1', '198.51.100.11'));
      const list = (await (await fetch(`${api.url}/api/v1/nodes`, { headers: { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' } })).json()) as { kind: string; items: Array<Record<string, unknown>> };
      assert.equal(list.kind, 'PartialObjectMetadataList');
      assert.deepEqual(Object.keys(list.items[0] ?? {}).sort(), ['apiVersion', 'kind', 'metadata']);
      assert.equal((list.items[0]?.metadata as { annotations: Record<string, string> }).annotations['projectcalico.org/IPv4Address'], '198.51.100.11/24');
      const ac = new AbortController();
      const res = await fetch(`${api.url}/api/v1/nodes?watch=true&resourceVersion=0`, { headers: { accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1' }, signal: ac.signal });
      const reader = res.body?.getReader();
      const chunk = (await reader?.read()) as { value?: Uint8Array } | undefined;
      const first = new TextDecoder().decode(chunk?.value);
      ac.abort();
      const event = JSON.parse(first.split('\n')[0] ?? '') as { type: string; object: { kind: string; status?: unknown } };
      assert.equal(event.type, 'ADDED');
      assert.equal(event.object.kind, 'PartialObjectMetadata');
      assert.equal(event.object.status, undefined);
      const refused = await fetch(`${api.url}/api/v1/nodes`, { headers: { accept: 'application/yaml' } });
      assert.equal(refused.status, 406);
    } finally {
      await api.close();
    }
  });
});

describe('kube-api stand-in: bookmarks', () => {
  /** The JSON lines of a watch stream, as they come, until `done` says so or `ms` pass. */
  const readEvents = async (url: string, done: (events: WatchLine[]) => boolean, ms: number): Promise<WatchLine[]> => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    const events: WatchLine[] = [];
    try {
      const res = await fetch(url, { signal: ac.signal });
      const reader = res.body?.getReader();
      const decoder = new TextDecoder();
      let buffered = '';
      while (reader && !done(events)) {
        const { value, done: ended } = (await reader.read()) as { value?: Uint8Array; done: boolean };
        if (ended) break;
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        events.push(...lines.filter((l) => l !== '').map((l) => JSON.parse(l) as WatchLine));
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    return events;
  };

  it("a watch that allows bookmarks gets one carrying the store's current resourceVersion, past changes it does not match", async () => {
    const api = await KubeApiServer.start({ bookmarkIntervalMs: 100 });
    try {
      const from = api.store.resourceVersion;
      let now = '';
      const rvOf = (e: WatchLine): unknown => (e.object as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
      const watch = `${api.url}/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dnode1&resourceVersion=${from}`;
      // Until a bookmark at the version after the changes below (one may come before them, at `from`).
      const bookmarked = readEvents(`${watch}&allowWatchBookmarks=true`, (es) => es.some((e) => e.type === 'BOOKMARK' && rvOf(e) === now), 5_000);
      const plain = readEvents(watch, () => false, 500);
      // Changes the filter leaves out: nothing to send, but the history moves on.
      await until('both watches open', () => api.openWatches === 2);
      api.store.create('pods', podObject({ name: 'elsewhere', node: 'node2', ips: ['100.64.2.5'] }));
      api.store.patch('pods', 'default', 'elsewhere', { metadata: { labels: { x: 'y' } } });
      now = api.store.resourceVersion;
      assert.notEqual(now, from);
      const events = await bookmarked;
      assert.ok(events.length > 0 && events.every((e) => e.type === 'BOOKMARK'), `bookmarks only, no object events for pods of another node: ${JSON.stringify(events)}`);
      assert.deepEqual(events[events.length - 1]?.object, { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: now } });
      assert.deepEqual(await plain, [], 'no bookmark without allowWatchBookmarks');
    } finally {
      await api.close();
    }
  });
});

describe('kube-api stand-in: as a process', () => {
  it('listens, writes a kubeconfig, serves lists, stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-api-'));
    const kubeconfig = join(dir, 'kubeconfig');
    const child = spawn(process.execPath, [join(__dirname, '../lab/kube-api/main.js'), '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString()));
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      assert.ok(existsSync(kubeconfig));
      assert.match(readFileSync(kubeconfig, 'utf8'), new RegExp(`server: ${url}`));
      const res = await fetch(`${url}/api/v1/namespaces`, { method: 'POST', body: JSON.stringify({ metadata: { name: 'shop' } }) });
      assert.equal(res.status, 201);
      const list = (await (await fetch(`${url}/api/v1/namespaces`)).json()) as { kind: string; items: unknown[]; metadata: { resourceVersion: string } };
      assert.equal(list.kind, 'NamespaceList');
      assert.equal(list.items.length, 1);
      assert.equal((await fetch(`${url}/api/v1/pods?fieldSelector=spec.nope=x`)).status, 400);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
