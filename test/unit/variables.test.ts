import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RESYNC_INTERVAL_MS } from '../../src/config/daemon-config';
import { parseGoDuration } from '../../src/config/duration';
import { HEALTH_DEFAULTS } from '../../src/config/health-config';
import { INIT_DEFAULTS } from '../../src/config/init-config';
import { VARIABLES, findVariable, variablesFor, variablesMarkdownTable } from '../../src/config/variables';

test('each variable is listed once, for at least one command', () => {
  const names = VARIABLES.map((v) => v.name);
  assert.deepEqual([...new Set(names)], names);
  for (const v of VARIABLES) assert.ok(v.commands.length > 0, v.name);
});

test('variablesFor splits the list by command', () => {
  const init = variablesFor('init').map((v) => v.name);
  const start = variablesFor('start').map((v) => v.name);
  // start holds init's ruleset (the setup guard), with the same backend.
  assert.ok(init.includes('DATAPLANE') && start.includes('DATAPLANE'));
  // start re-creates vxlan0 with init's spec when it goes missing, so it reads the VXLAN settings too.
  assert.ok(init.includes('EGRESS_VXLAN_VNI') && start.includes('EGRESS_VXLAN_VNI'));
  assert.ok(start.includes('DAEMON_SOCKET_PATH') && !init.includes('DAEMON_SOCKET_PATH'));
  assert.ok(init.includes('EGRESS_POD_IP') && start.includes('EGRESS_POD_IP'));
  assert.equal(findVariable('NOT_A_VARIABLE'), undefined);
});

test('the Markdown table has one row per variable, pipes escaped', () => {
  const lines = variablesMarkdownTable().trimEnd().split('\n');
  assert.equal(lines.length, VARIABLES.length + 2);
  assert.equal(lines[2], '| `EGRESS_POD_IP` | init, start | — | `--pod-ip` | The pod IP (downward API status.podIP): the SNAT source, the vxlan0 address and MAC. Required unless EGRESS_POD_IPS is set. May be IPv6 (an IPv6-only gateway). |');
  assert.ok(lines.some((l) => l.startsWith('| `ICMP_PROBE_IPS` | start | (empty) | — |')));
  for (const l of lines.slice(2)) assert.equal(l.split(/(?<!\\)\|/).length, 7, l);
});

test('the defaults the list documents are the ones the parsers use', () => {
  const durations: [string, number][] = [
    ['HEALTH_TIMEOUT_DATASTORE', HEALTH_DEFAULTS.datastoreTimeoutMs],
    ['ICMP_PROBE_INTERVAL', HEALTH_DEFAULTS.icmpIntervalMs],
    ['ICMP_PROBE_TIMEOUT', HEALTH_DEFAULTS.icmpTimeoutMs],
    ['HTTP_PROBE_INTERVAL', HEALTH_DEFAULTS.httpIntervalMs],
    ['HTTP_PROBE_TIMEOUT', HEALTH_DEFAULTS.httpTimeoutMs],
    ['DRAIN_DELAY', HEALTH_DEFAULTS.drainDelayMs],
    ['RESYNC_INTERVAL', DEFAULT_RESYNC_INTERVAL_MS],
  ];
  for (const [name, ms] of durations) assert.equal(parseGoDuration(findVariable(name)?.default ?? ''), ms, name);
  assert.equal(findVariable('HEALTH_PORT')?.default, String(HEALTH_DEFAULTS.port));
  assert.equal(findVariable('EGRESS_VXLAN_VNI')?.default, String(INIT_DEFAULTS.vni));
  assert.equal(findVariable('EGRESS_VXLAN_PORT')?.default, String(INIT_DEFAULTS.vxlanPort));
  assert.equal(findVariable('DATAPLANE')?.default, INIT_DEFAULTS.dataplane);
  assert.equal(findVariable('LOG_SEVERITY')?.default, INIT_DEFAULTS.logLevel);
  assert.equal(findVariable('EGRESS_INTERFACE')?.default, INIT_DEFAULTS.underlay);
});
