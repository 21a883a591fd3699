import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VARIABLES, type VariableSpec } from '../../src/config/variables';
import { withLab, type Lab } from '../lab/lab';

/**
 * Every variable and flag with malformed values (issue 7), driven by VARIABLES: a variable added
 * there without bad values here fails the first test. Each command that reads the variable runs in
 * a fresh lab's gateway pod and must exit 2 naming the variable (or flag) and the value, before
 * any change to the kernel: the namespace is dumped before and after.
 */

const BAD: Readonly<Record<string, readonly string[]>> = {
  EGRESS_POD_IP: ['100.64.2', 'gateway', '100.64.2.7/32'],
  EGRESS_POD_IPS: ['100.64.2.7,nope', '100.64.2.7;100.64.2.8'],
  EGRESS_VXLAN_VNI: ['0', '16777216', 'abc', '-1', '4097.5'],
  EGRESS_VXLAN_PORT: ['0', '65536', '47 90'],
  EGRESS_INTERFACE: ['eth0 -j ACCEPT', 'a234567890123456', '..'],
  DATAPLANE: ['ebpf', 'iptables;nftables'],
  IPTABLES_BACKEND: ['xtables'],
  // 108 bytes: one over what sun_path holds.
  DAEMON_SOCKET_PATH: ['relative/socket', `/${'s'.repeat(107)}`],
  HEALTH_PORT: ['-1', '65536', 'http'],
  HEALTH_HOST: ['localhost', '300.1.1.1'],
  HEALTH_MAX_CONNECTIONS: ['0', 'many', '-1'],
  HEALTH_TIMEOUT_DATASTORE: ['90', '-5s', 'forever'],
  ICMP_PROBE_IPS: ['198.51.100.300', 'example.com'],
  ICMP_PROBE_INTERVAL: ['5', '0s'],
  ICMP_PROBE_TIMEOUT: ['x'],
  HTTP_PROBE_URLS: ['ftp://198.51.100.13/', 'not a url'],
  HTTP_PROBE_INTERVAL: ['10'],
  HTTP_PROBE_TIMEOUT: ['abc'],
  DRAIN_DELAY: ['10', '-1s'],
  RESYNC_INTERVAL: ['10ms', '30'],
  AUDIT_LOG: ['relative.log'],
  AUDIT_LOG_RATE: ['0', 'many'],
  AUDIT_LOG_BURST: ['0'],
  STATUS_SOCKET: ['relative.sock', `/${'s'.repeat(107)}`],
  LOG_SEVERITY: ['verbose', '5'],
};

/**
 * Settings that are only read when another one turns their feature on. (The audit rate and burst
 * are parsed only with AUDIT_LOG set, so with the audit off a typo in them goes unnoticed: see
 * docs/reliability.md.)
 */
const CONTEXT: Readonly<Record<string, Record<string, string>>> = {
  AUDIT_LOG_RATE: { AUDIT_LOG: 'stdout' },
  AUDIT_LOG_BURST: { AUDIT_LOG: 'stdout' },
};

/** The commands this test can run without a daemon to talk to. */
const COMMANDS = ['init', 'start'] as const;

interface Case {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  /** What stderr must name: `NAME="value"`. */
  readonly says: string;
}

function casesFor(v: VariableSpec, gwpod: string): Case[] {
  const out: Case[] = [];
  for (const command of COMMANDS) {
    if (!(v.commands as readonly string[]).includes(command)) continue;
    // A valid address unless the variable under test is the address itself.
    const base: Record<string, string> = { ...(v.name.startsWith('EGRESS_POD_IP') ? {} : { EGRESS_POD_IP: gwpod }), ...CONTEXT[v.name] };
    for (const value of BAD[v.name] ?? []) {
      out.push({ command, args: [], env: { ...base, [v.name]: value }, says: `${v.name}=${JSON.stringify(value)}` });
      if (v.flag) out.push({ command, args: [v.flag, value], env: { EGRESS_POD_IP: gwpod, ...CONTEXT[v.name] }, says: `${v.flag}=${JSON.stringify(value)}` });
    }
  }
  return out;
}

async function run(lab: Lab, c: Case): Promise<{ code: number; stderr: string }> {
  // A value that is wrongly accepted lets `start` run on; the timeout turns that into a failure.
  return lab.exec(lab.names.gwpod, [...lab.gatewayCommand, c.command, ...c.args], { env: c.env, allowFail: true, timeoutMs: 8_000 });
}

describe('config: malformed values of every variable and flag', () => {
  it('every variable in VARIABLES has bad values to try', () => {
    const missing = VARIABLES.filter((v) => v.commands.some((c) => (COMMANDS as readonly string[]).includes(c)) && !(BAD[v.name]?.length));
    assert.deepEqual(missing.map((v) => v.name), [], 'add bad values for these variables to BAD');
  });

  it('init and start exit 2 naming the variable or flag and the value, and change nothing in the kernel', (t) =>
    withLab(t, async (lab) => {
      const cases = VARIABLES.flatMap((v) => casesFor(v, lab.addrs.gwpod));
      assert.ok(cases.length > 60, `${cases.length} cases`);
      const before = await lab.kernelState(lab.names.gwpod);
      const failures: string[] = [];
      // A few at a time: each is a Node process start, and the machine is shared.
      for (let i = 0; i < cases.length; i += 4) {
        await Promise.all(
          cases.slice(i, i + 4).map(async (c) => {
            const res = await run(lab, c);
            const line = `${c.command} ${c.args.join(' ')} ${JSON.stringify(c.env)}`;
            if (res.code !== 2) failures.push(`${line}: exit ${res.code}, want 2: ${res.stderr.trim()}`);
            else if (!res.stderr.includes(`CONFIG_INVALID: ${c.says}`)) failures.push(`${line}: stderr does not name ${c.says}: ${res.stderr.trim()}`);
            else if (/\n\s+at /.test(res.stderr)) failures.push(`${line}: a stack trace: ${res.stderr}`);
          }),
        );
      }
      assert.deepEqual(failures, []);
      assert.equal(await lab.kernelState(lab.names.gwpod), before, 'nothing changed in the namespace');
      t.diagnostic(`${cases.length} malformed settings tried`);
    }));
});
