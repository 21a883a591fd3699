import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { namespaceObject, nodeObject, podObject, ipPoolObject } from '../lab/kube-api/objects';
import { waitForOutput, withLab, type Lab } from '../lab/lab';
import { prepareGateways } from '../lab/steering';

/**
 * The agent end to end on an OSS Calico client node: `egress-gateway agent` (its real control plane
 * and kernel steering; no route feed, the gateway's return path is set by hand) in the client
 * node's namespace, watching the stand-in API server, which runs in that namespace too. What the
 * cluster's objects say is what the external server sees.
 */

const PORT = '7777';
const SELECTOR = 'egress.projectcalico.org/selector';

async function kube(lab: Lab, url: string, method: string, path: string, body?: unknown): Promise<void> {
  const argv = [process.execPath, join(__dirname, '..', 'lab', 'kube-call.js'), url, method, path, ...(body !== undefined ? [JSON.stringify(body)] : [])];
  const r = await lab.exec(lab.names.node1, argv, { allowFail: true });
  assert.equal(r.code, 0, `${method} ${path}: ${r.stdout}${r.stderr}`);
}

/** The source address ext sees for a new connection from the client pod; undefined when it fails. */
async function sourceSeen(lab: Lab, server: ReturnType<Lab['spawn']>): Promise<string | undefined> {
  const peer = waitForOutput(server, /peer \S+ \d+\n/, 3000).catch(() => undefined);
  const echo = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, PORT, 'hello', '1500'), { allowFail: true });
  if (echo.code !== 0) return undefined;
  return /peer (\S+) \d+\n/.exec((await peer) ?? '')?.[1];
}

async function until(lab: Lab, server: ReturnType<Lab['spawn']>, want: string | undefined, what: string): Promise<void> {
  let seen: string | undefined;
  for (let i = 0; i < 40; i++) {
    seen = await sourceSeen(lab, server);
    if (seen === want) return;
    await sleep(250);
  }
  assert.fail(`${what}: the server saw ${seen ?? 'no connection'}, not ${want ?? 'no connection'}`);
}

describe('the agent end to end', () => {
  it('annotated namespace → egress IP; annotation removed → node IP; the gateway pod deleted → fail closed', (t) =>
    withLab(
      t,
      async (lab) => {
        await prepareGateways(lab);
        const dir = mkdtempSync(join(tmpdir(), 'agent-e2e-'));
        try {
          const n1 = lab.names.node1;
          const api = lab.spawn(n1, [process.execPath, join(__dirname, '..', 'lab', 'kube-api', 'main.js'), '--kubeconfig', join(dir, 'kubeconfig'), '--bookmark-ms', '1000']);
          const listening = await waitForOutput(api, /"event":"listening"/);
          const url = (JSON.parse(listening.trim().split('\n').pop() as string) as { url: string }).url;

          await kube(lab, url, 'POST', '/api/v1/namespaces', namespaceObject('default', { annotations: { [SELECTOR]: "egress-gateway.io/gateway == 'true'" } }));
          await kube(lab, url, 'POST', '/api/v1/nodes', nodeObject('node1', lab.addrs.node1));
          await kube(lab, url, 'POST', '/api/v1/nodes', nodeObject('node2', lab.addrs.node2));
          await kube(lab, url, 'POST', '/apis/crd.projectcalico.org/v1/ippools', ipPoolObject('default-pool', '100.64.0.0/16', { natOutgoing: true }));
          await kube(lab, url, 'POST', '/api/v1/namespaces/default/pods', podObject({ name: 'client', node: 'node1', ips: [lab.addrs.cpod] }));
          await kube(lab, url, 'POST', '/api/v1/namespaces/default/pods', podObject({ name: 'gw', node: 'node2', ips: [lab.addrs.gwpod], labels: { 'egress-gateway.io/gateway': 'true' } }));

          const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
          await waitForOutput(server, /listening 7777/);
          assert.equal(await sourceSeen(lab, server), lab.addrs.node1, 'before the agent: the node IP');

          const agent = lab.spawn(n1, [process.execPath, join(__dirname, '..', 'lab', 'agent-launcher.js')], {
            env: {
              NODE_NAME: 'node1',
              KUBECONFIG: join(dir, 'kubeconfig'),
              AGENT_HEALTH_PORT: '19570',
              STATUS_SOCKET: join(dir, 'status.sock'),
              AGENT_POLICYSYNC_SOCKET: join(dir, 'feed.sock'),
              LOG_SEVERITY: 'info',
            },
          });
          let log = '';
          agent.stdout?.on('data', (c: Buffer) => (log += c.toString()));
          agent.stderr?.on('data', (c: Buffer) => (log += c.toString()));
          try {
            await until(lab, server, lab.addrs.gwpod, 'the annotated namespace steers the client');
            const rules = (await lab.exec(n1, ['ip', 'rule', 'show'])).stdout;
            assert.match(rules, /^100:\s+from 100\.64\.1\.5 lookup 1000 proto 69/m, rules);
            const table = (await lab.exec(n1, ['ip', 'route', 'show', 'table', '1000'])).stdout;
            assert.match(table, /^throw 100\.64\.0\.0\/16 /m, `the IP pool is a bypass:\n${table}`);

            await kube(lab, url, 'PATCH', '/api/v1/namespaces/default', { metadata: { annotations: { [SELECTOR]: null } } });
            await until(lab, server, lab.addrs.node1, 'the annotation removed: the node IP again');
            assert.doesNotMatch((await lab.exec(n1, ['ip', 'rule', 'show'])).stdout, /100\.64\.1\.5/);

            await kube(lab, url, 'PATCH', '/api/v1/namespaces/default', { metadata: { annotations: { [SELECTOR]: "egress-gateway.io/gateway == 'true'" } } });
            await until(lab, server, lab.addrs.gwpod, 'annotated again');
            await kube(lab, url, 'DELETE', '/api/v1/namespaces/default/pods/gw');
            await until(lab, server, undefined, 'the only gateway deleted: the client fails closed');
            assert.match((await lab.exec(n1, ['ip', 'route', 'show', 'table', '1000'])).stdout, /^unreachable default/m);
          } catch (err) {
            t.diagnostic(`agent output:\n${log}`);
            throw err;
          } finally {
            agent.kill('SIGTERM');
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
      { felix: 'nft' },
    ));
});
