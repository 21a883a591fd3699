import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { realOutputs, runAgentCommand, runAgentTeardown } from '../../src/agent/command';
import type { AgentStatusDocument } from '../../src/agent/status';
import { gatewayText } from '../../src/model/steering';
import { parseAgentConfig } from '../../src/config/agent-config';
import { ErrorCodes, isGatewayError, kernelError } from '../../src/errors';
import { systemClock } from '../../src/model/clock';
import { PolicySyncServer } from '../../src/policysync/server';
import { SteeringError } from '../../src/steering/reconciler';
import { runCommand } from '../../src/kernel/exec';
import { runStatusCommand } from '../../src/status/command';
import { cliScript } from '../lab/cli-script';
import { namespaceObject, nodeObject, podObject } from '../lab/kube-api/objects';
import { KubeApiServer } from '../lab/kube-api/server';
import { until } from './wait';

describe('agent config', () => {
  const base = { NODE_NAME: 'node1' };
  it('defaults (as docs/agent.md and the chart give them)', () => {
    const c = parseAgentConfig(base);
    assert.deepEqual(
      { ...c, logLevel: c.logLevel },
      {
        nodeName: 'node1',
        gatewaySelector: 'egress-gateway.io/gateway=true',
        routeTables: { first: 1000, last: 1999 },
        rulePriority: 100,
        vni: 4097,
        vxlanPort: 4790,
        policysyncSocket: '/var/run/egress-gateway/policysync/socket',
        healthPort: 9570,
        gatewayPoll: { intervalMs: 10_000, timeoutMs: 5_000, failureThreshold: 3 },
        statusSocket: '/tmp/egress-gateway/status.sock',
        logLevel: 'info',
        bypassCidrs: [],
        gatewaySignals: { stream: true, heartbeatMs: 1000, echoIntervalMs: 100, echoMisses: 3, flowGraceMs: 5000 },
        flowMarkMask: 0x3f00,
      },
    );
  });
  const bad: [Record<string, string>, string][] = [
    [{}, 'NODE_NAME=unset: is required'],
    [{ NODE_NAME: 'Node_1' }, 'NODE_NAME="Node_1": must be a Kubernetes node name'],
    [{ ...base, AGENT_ROUTE_TABLES: '100-300' }, 'AGENT_ROUTE_TABLES="100-300": overlaps tables 1-250'],
    [{ ...base, AGENT_ROUTE_TABLES: '252-260' }, 'overlaps the kernel tables 253-255'],
    [{ ...base, AGENT_ROUTE_TABLES: '2000-1000' }, 'AGENT_ROUTE_TABLES="2000-1000": must be FROM-TO'],
    [{ ...base, AGENT_ROUTE_TABLES: '1000' }, 'must be a range FROM-TO'],
    [{ ...base, AGENT_RULE_PRIORITY: '0' }, 'AGENT_RULE_PRIORITY="0": must be from 1 to 32765'],
    [{ ...base, AGENT_GATEWAY_SELECTOR: 'a in (b' }, 'AGENT_GATEWAY_SELECTOR="a in (b": is not a Kubernetes label selector'],
    [{ ...base, AGENT_GATEWAY_POLL_TIMEOUT: '20s' }, 'AGENT_GATEWAY_POLL_TIMEOUT="20s": AGENT_GATEWAY_POLL_TIMEOUT must not be longer'],
    [{ ...base, AGENT_GATEWAY_POLL_FAILURES: '0' }, 'AGENT_GATEWAY_POLL_FAILURES="0": must be from 1 to 100'],
    [{ ...base, AGENT_POLICYSYNC_SOCKET: 'relative/socket' }, 'AGENT_POLICYSYNC_SOCKET="relative/socket": must be an absolute path'],
    [{ ...base, AGENT_BYPASS_CIDRS: '198.51.100.0/24,nope' }, 'AGENT_BYPASS_CIDRS="198.51.100.0/24,nope": "nope" is not a CIDR'],
    [{ ...base, AGENT_GATEWAY_STREAM: 'yes' }, 'AGENT_GATEWAY_STREAM="yes": must be one of true, false'],
    [{ ...base, AGENT_GATEWAY_STREAM_HEARTBEAT: '10ms' }, 'AGENT_GATEWAY_STREAM_HEARTBEAT="10ms": must be from'],
    [{ ...base, AGENT_GATEWAY_ECHO_INTERVAL: '5ms' }, 'AGENT_GATEWAY_ECHO_INTERVAL="5ms": must be 0 (no echo) or from 20ms to 10s'],
    [{ ...base, AGENT_GATEWAY_ECHO_MISSES: '0' }, 'AGENT_GATEWAY_ECHO_MISSES="0": must be from 1 to 100'],
    [{ ...base, AGENT_FLOW_GRACE: '1h' }, 'AGENT_FLOW_GRACE="1h": must be from'],
    [{ ...base, AGENT_FLOW_MARK_MASK: '0x4000' }, "AGENT_FLOW_MARK_MASK=\"0x4000\": overlaps Felix's mark bits"],
    [{ ...base, AGENT_FLOW_MARK_MASK: '0x10000' }, 'overlaps Felix'],
    [{ ...base, AGENT_FLOW_MARK_MASK: '0x0500' }, 'must be contiguous bits'],
    [{ ...base, AGENT_FLOW_MARK_MASK: '0x3ff0' }, 'must be 1 to 8 contiguous bits'],
    [{ ...base, AGENT_FLOW_MARK_MASK: 'lots' }, 'must be a number such as 0x3f00'],
    [{ ...base, AGENT_RULE_PRIORITY: '1' }, 'AGENT_RULE_PRIORITY="1": must be at least 2 while AGENT_FLOW_MARK_MASK pins flows'],
    [{ ...base, KUBECONFIG: '/a:/b' }, 'KUBECONFIG="/a:/b": must name one kubeconfig file'],
    [{ ...base, EGRESS_VXLAN_VNI: '0' }, 'EGRESS_VXLAN_VNI="0": must be from 1 to 16777215'],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)}`, () => {
      assert.throws(
        () => parseAgentConfig(env),
        (err: unknown) => isGatewayError(err, ErrorCodes.CONFIG_INVALID) && err.message.includes(message),
      );
    });
  }
  it('accepts selector forms and flags over variables', () => {
    for (const sel of ['a=b', 'a==b,c!=d', 'a in (x, y),!z', 'app.kubernetes.io/name=egress-gateway']) {
      assert.equal(parseAgentConfig({ ...base, AGENT_GATEWAY_SELECTOR: sel }).gatewaySelector, sel);
    }
    assert.equal(parseAgentConfig({ ...base, AGENT_RULE_PRIORITY: '5' }, { rulePriority: '7' }).rulePriority, 7);
    assert.deepEqual(parseAgentConfig({ ...base, AGENT_BYPASS_CIDRS: '198.51.100.0/24, 2001:db8::/64' }).bypassCidrs.map((c) => c.text), ['198.51.100.0/24', '2001:db8::/64']);
    const felix = parseAgentConfig({ ...base, AGENT_GATEWAY_STREAM: 'false', AGENT_GATEWAY_ECHO_INTERVAL: '0', AGENT_FLOW_MARK_MASK: '0', AGENT_RULE_PRIORITY: '1' });
    assert.deepEqual([felix.gatewaySignals.stream, felix.gatewaySignals.echoIntervalMs, felix.flowMarkMask, felix.rulePriority], [false, 0, 0, 1]);
    assert.equal(parseAgentConfig({ ...base, AGENT_FLOW_MARK_MASK: '0x7f' }).flowMarkMask, 0x7f);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('agent command: one lifecycle, health port, status socket, signals', () => {
  it('starts, answers /readiness and `status`, stops on SIGTERM with 0', async () => {
    const api = await KubeApiServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'agent-cmd-'));
    try {
      writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
      api.store.create('namespaces', namespaceObject('default', { annotations: { 'egress.projectcalico.org/selector': 'all()' } }));
      api.store.create('nodes', nodeObject('node1', '198.51.100.11'));
      api.store.create('pods', podObject({ name: 'client', node: 'node1', ips: ['100.64.1.5'] }));
      api.store.create('pods', podObject({ name: 'gw', node: 'node2', ips: ['100.64.2.7'], labels: { 'egress-gateway.io/gateway': 'true' } }));
      const port = await freePort();
      const statusSocket = join(dir, 'status.sock');
      const env = { NODE_NAME: 'node1', KUBECONFIG: join(dir, 'kubeconfig'), AGENT_HEALTH_PORT: String(port), STATUS_SOCKET: statusSocket, AGENT_POLICYSYNC_SOCKET: join(dir, 'feed.sock') };
      const specs: string[] = [];
      const signals = new EventEmitter();
      const exit = runAgentCommand({}, env, {
        logger: pino({ level: 'silent' }),
        outputs: () => ({
          dataplane: {
            apply: (spec) => {
              specs.push(spec.clients.map((c) => `${c.pod}->${c.gateways.map(gatewayText).join(',')}`).join(';'));
              return Promise.resolve();
            },
          },
          feed: { start: () => Promise.resolve(), close: () => Promise.resolve(), replace: () => undefined, inSync: () => undefined },
        }),
      }, { signals: signals as unknown as NodeJS.Process, exit: () => assert.fail('exit called') });
      await until('steered', () => specs.includes('default/client->100.64.2.7'));
      await until('the agent is ready', () => specs.length > 0);
      let res = await fetch(`http://127.0.0.1:${port}/readiness`);
      for (let i = 0; i < 100 && res.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        res = await fetch(`http://127.0.0.1:${port}/readiness`);
      }
      const body = (await res.json()) as { ready: boolean; checks: Record<string, unknown> };
      assert.equal(body.ready, true);
      assert.deepEqual(Object.keys(body.checks).sort(), ['dataplane', 'kube', 'node']);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^egress_gateway_agent_steered_pods 1$/m);
      let text = '';
      assert.equal(await runStatusCommand({}, { STATUS_SOCKET: statusSocket }, (t) => (text += t)), 0);
      assert.match(text, /^READY: yes$/m);
      assert.match(text, /default\/client\s+100\.64\.1\.5\s+namespace\s+default\/gw/);
      let json = '';
      await runStatusCommand({ json: true }, { STATUS_SOCKET: statusSocket }, (t) => (json += t));
      const doc = JSON.parse(json) as AgentStatusDocument;
      assert.equal(doc.role, 'agent');
      assert.deepEqual(doc.clients.map((c) => [c.pod, c.gateways]), [['default/client', ['default/gw']]]);
      signals.emit('SIGTERM', 'SIGTERM');
      assert.equal(await exit, 0);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/readiness`));
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the real outputs: the kernel steering with the configured tables, priority and hashing, and a PolicySync server on AGENT_POLICYSYNC_SOCKET', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-cmd-'));
    try {
      const config = parseAgentConfig({ NODE_NAME: 'node1', AGENT_POLICYSYNC_SOCKET: join(dir, 'feed.sock'), AGENT_MULTIPATH_HASH: 'l4', AGENT_ROUTE_TABLES: '3000-3009' });
      assert.equal(config.multipathHash, 'l4');
      const outputs = realOutputs(config, { clock: systemClock, logger: pino({ level: 'silent' }) });
      try {
        assert.ok(outputs.feed instanceof PolicySyncServer, 'the route feed is the PolicySync server');
        assert.deepEqual(outputs.feed.stats(), { listening: false, socket: join(dir, 'feed.sock'), openStreams: 0, inSync: false, routes: 0, vteps: 0 });
        assert.deepEqual(outputs.dataplane.status?.(), { tables: [], pins: [], problems: [] }, 'nothing programmed before the first apply');
      } finally {
        await outputs.dataplane.close?.();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('egress-gateway agent with a bad variable (the real CLI, a process of its own)', () => {
  it('exits 2 with one CONFIG_INVALID line naming the variable, before it touches anything', async () => {
    const api = await KubeApiServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'agent-bad-config-'));
    try {
      writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        NODE_NAME: 'node1',
        KUBECONFIG: join(dir, 'kubeconfig'),
        AGENT_ROUTE_TABLES: '100-300',
        // Where a started agent would make its sockets (and their folders).
        AGENT_POLICYSYNC_SOCKET: join(dir, 'policysync', 'socket'),
        STATUS_SOCKET: join(dir, 'status', 'status.sock'),
        AGENT_HEALTH_PORT: '0',
      };
      const r = await runCommand(process.execPath, [cliScript(), 'agent'], { env, timeoutMs: 20_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr.trim(),
        'egress-gateway: CONFIG_INVALID: AGENT_ROUTE_TABLES="100-300": overlaps tables 1-250, which Felix owns by default (routeTableRanges)',
      );
      assert.deepEqual(api.requests, [], 'no request to the API server');
      assert.equal(existsSync(join(dir, 'policysync')), false, 'no PolicySync socket (nor its folder)');
      assert.equal(existsSync(join(dir, 'status')), false, 'no status socket (nor its folder)');
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agent --teardown (uninstall)', () => {
  it('removes what the agent owns and its socket file, exits 0; a failure exits 1 and says what is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-teardown-'));
    const socket = join(dir, 'socket');
    try {
      // A socket file, as a crashed agent leaves it.
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(socket, resolve));
      assert.ok(existsSync(socket));
      writeFileSync(join(dir, 'socket.keep'), 'not a socket');
      const seen: Array<Record<string, unknown>> = [];
      const logs: string[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void logs.push(l) });
      const env = { AGENT_POLICYSYNC_SOCKET: socket, AGENT_ROUTE_TABLES: '3000-3009', AGENT_RULE_PRIORITY: '90' };
      // No NODE_NAME, no KUBECONFIG: teardown talks to no API server.
      const ok = await runAgentTeardown({}, env, {
        logger,
        teardown: async (options) => {
          seen.push({ ...options });
          return { ok: true, reason: 'teardown', at: 0, durationMs: 0, operations: 2, writes: ['del rule from 100.64.1.5/32 lookup 3000 priority 90', 'delete device egress.calico'] };
        },
      });
      assert.equal(ok, 0);
      assert.deepEqual(seen, [{ tables: { first: 3000, last: 3009 }, rulePriority: 90 }]);
      assert.equal(existsSync(socket), false, 'the socket file is gone');
      server.close();
      assert.match(logs.join(''), /"event":"teardown_done".*"removed":\["del rule from 100\.64\.1\.5\/32 lookup 3000 priority 90","delete device egress\.calico","delete socket /);

      const failed = await runAgentTeardown({ policysyncSocket: join(dir, 'socket.keep') }, {}, {
        logger,
        teardown: async () => ({ ok: false, reason: 'teardown', at: 0, durationMs: 0, operations: 1, writes: [], error: new SteeringError([kernelError('deleting rule from 100.64.1.5/32 lookup 1000 priority 100', new Error('EPERM'))], 1) }),
      });
      assert.equal(failed, 1);
      assert.ok(existsSync(join(dir, 'socket.keep')), 'a file that is not a socket is not removed');
      assert.match(logs.at(-1) ?? '', /"event":"teardown_failed".*teardown incomplete: reconciling the steering: 1 of 1 kernel operations failed: deleting rule from 100\.64\.1\.5\/32 .*EPERM; run it again/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
