/**
 * charts/egress-gateway under real helm (test/chart/helm.ts): `helm lint --strict` and `helm template` for
 * every mode and the value combinations that change what is rendered; helm itself checks the values against
 * values.schema.json. Every rendered object is held to its Kubernetes API schema (kubernetes-models, and
 * @kubernetes-models/prometheus-operator for the monitoring objects) and to what the gateway and the OSS
 * agent need.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { packageRoot } from '../../src/package-root';
import { DEFAULT_HEALTH_PORT, DEFAULT_SOCKET_PATH, LIVENESS_PATH, READINESS_PATH, variablesFor, type CommandName } from '../../src/config/variables';
import { createMetrics } from '../../src/observability/metrics';
import { createAgentMetrics } from '../../src/agent/metrics';
import type { Registry } from 'prom-client';
import { helm, promtoolBinary, type HelmRun } from './helm';

const root = packageRoot();
const chartDir = join(root, 'charts', 'egress-gateway');
const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;

type Obj = Record<string, any>; // rendered manifests: shapes are asserted, not typed

/** What the OSS agent is given by default: the names and defaults docs/agent.md lists, and the agent's poll settings. */
const AGENT_DEFAULT_ENV: Record<string, string | undefined> = {
  NODE_NAME: undefined, // downward API
  EGRESS_VXLAN_VNI: '4097',
  EGRESS_VXLAN_PORT: '4790',
  AGENT_ROUTE_TABLES: '1000-1999',
  AGENT_RULE_PRIORITY: '100',
  AGENT_POLICYSYNC_SOCKET: '/var/run/egress-gateway/policysync/socket',
  AGENT_GATEWAY_SELECTOR: 'egress-gateway.io/gateway=true',
  AGENT_HEALTH_PORT: '9570',
  AGENT_BYPASS_CIDRS: '',
  AGENT_GATEWAY_POLL_INTERVAL: '10s',
  AGENT_GATEWAY_POLL_TIMEOUT: '5s',
  AGENT_GATEWAY_POLL_FAILURES: '3',
  // Issue #16's failover settings.
  AGENT_GATEWAY_STREAM: 'true',
  AGENT_GATEWAY_STREAM_HEARTBEAT: '1s',
  AGENT_GATEWAY_ECHO_INTERVAL: '100ms',
  AGENT_GATEWAY_ECHO_MISSES: '3',
  AGENT_FLOW_GRACE: '5s',
  AGENT_FLOW_MARK_MASK: '0x3f00',
  LOG_SEVERITY: 'info',
};
/** Read by iptables in the image, not by our CLI. */
const TOOL_ENV = new Set(['XTABLES_LOCKFILE']);
const GATEWAY_LABEL = ['egress-gateway.io/gateway', 'true'] as const;

let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'egw-chart-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

let files = 0;
function valuesFile(values: unknown): string {
  const file = join(work, `values-${files++}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

function run(command: 'template' | 'lint' | 'install', values: unknown, extra: readonly string[] = []): HelmRun {
  const args =
    command === 'lint'
      ? ['lint', '--strict', chartDir, '--namespace', 'egress', '-f', valuesFile(values)]
      : command === 'install'
        ? ['install', 'egw', chartDir, '--dry-run=client', '--namespace', 'egress', '-f', valuesFile(values)]
        : ['template', 'egw', chartDir, '--namespace', 'egress', '-f', valuesFile(values)];
  return helm([...args, ...extra], work);
}

function render(values: unknown = {}): Obj[] {
  const r = run('template', values);
  assert.equal(r.status, 0, `helm template failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) assert.deepEqual(d.errors, [], `rendered YAML does not parse: ${r.stdout}`);
  const objs = docs.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
  for (const o of objs) validateObject(o);
  return objs;
}

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'apps/v1 DaemonSet': DaemonSet,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ServiceAccount': ServiceAccount,
  'v1 Service': Service,
  'v1 ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1 ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding': ClusterRoleBinding,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1 PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1 ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1 PrometheusRule': PrometheusRule,
};

/** The Kubernetes API schema check: throws with the offending path when a field has the wrong shape. */
function validateObject(obj: Obj): void {
  const key = `${String(obj['apiVersion'])} ${String(obj['kind'])}`;
  const Model = MODELS[key];
  assert.ok(Model, `unexpected object rendered: ${key}`);
  new Model(obj).validate();
  if (obj['kind'] !== 'ClusterRole' && obj['kind'] !== 'ClusterRoleBinding') {
    assert.equal(obj['metadata']['namespace'], 'egress', `${key} ${obj['metadata']['name']} in the release namespace`);
  }
}

function only(objs: Obj[], kind: string, name?: string): Obj {
  const found = objs.filter((o) => o['kind'] === kind && (name === undefined || o['metadata']['name'] === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''} among ${objs.map((o) => `${o['kind']}/${o['metadata']['name']}`).join(', ')}`);
  return found[0] as Obj;
}

function kinds(objs: Obj[]): string[] {
  return objs.map((o) => o['kind'] as string).sort();
}

function envOf(container: Obj): Map<string, Obj> {
  return new Map((container['env'] as Obj[]).map((e) => [e['name'] as string, e]));
}

function goSeconds(duration: string): number {
  const m = /^(\d+)s$/.exec(duration);
  assert.ok(m, `expected whole seconds, got ${duration}`);
  return Number(m[1]);
}

function selects(selector: Obj, labels: Obj): boolean {
  for (const [k, v] of Object.entries((selector['matchLabels'] ?? {}) as Obj)) if (labels[k] !== v) return false;
  for (const e of (selector['matchExpressions'] ?? []) as Obj[]) {
    assert.equal(e['operator'], 'In', 'only In expressions are used');
    if (!(e['values'] as string[]).includes(labels[e['key']])) return false;
  }
  return true;
}

/** What every rendering of the gateway must hold, whatever the values. */
function checkGateway(workload: Obj, mode: 'enterprise' | 'oss'): { init: Obj; main: Obj; pod: Obj } {
  const pod = workload['spec']['template'];
  const spec = pod['spec'];
  assert.equal(spec['initContainers'].length, 1);
  assert.equal(spec['containers'].length, 1);
  const init = spec['initContainers'][0] as Obj;
  const main = spec['containers'][0] as Obj;

  // The selector must pick the template's own pods; the agent finds every gateway by the documented label.
  assert.ok(selects(workload['spec']['selector'], pod['metadata']['labels']), 'selector matches the pod template');
  assert.equal(pod['metadata']['labels'][GATEWAY_LABEL[0]], GATEWAY_LABEL[1]);

  // Calico's command names, which the image provides.
  assert.deepEqual(init['command'], ['/init-gateway.sh']);
  assert.deepEqual(main['command'], ['/start-gateway.sh']);

  // Init is privileged (sysctls); the daemon gets NET_ADMIN and NET_RAW only; no API token; seccomp.
  assert.equal(init['securityContext']['privileged'], true);
  assert.notEqual(main['securityContext']['privileged'], true);
  assert.equal(main['securityContext']['allowPrivilegeEscalation'], false);
  assert.deepEqual([...main['securityContext']['capabilities']['add']].sort(), ['NET_ADMIN', 'NET_RAW']);
  assert.deepEqual(main['securityContext']['capabilities']['drop'], ['ALL']);
  assert.equal(spec['automountServiceAccountToken'], false);
  assert.deepEqual(spec['securityContext']['seccompProfile'], { type: 'RuntimeDefault' });
  for (const c of [init, main]) assert.ok(c['resources']?.['requests']?.['memory'], `${c['name']} requests memory`);

  // Rolling updates never go below the wanted number of ready gateways.
  const strategy = workload['kind'] === 'Deployment' ? workload['spec']['strategy'] : workload['spec']['updateStrategy'];
  assert.equal(strategy['type'], 'RollingUpdate');
  assert.equal(strategy['rollingUpdate']['maxUnavailable'], 0);
  const surge = strategy['rollingUpdate']['maxSurge'] as unknown;
  assert.ok(typeof surge === 'number' ? surge >= 1 : /^[1-9]\d*%$/.test(String(surge)), `a surge (${String(surge)}), or nothing could move`);

  // Every variable set is one the command reads.
  for (const [container, command] of [[init, 'init'], [main, 'start']] as [Obj, CommandName][]) {
    const known = new Set(variablesFor(command).map((v) => v.name));
    for (const name of envOf(container).keys()) assert.ok(known.has(name), `${container['name']} sets ${name}, which \`${command}\` does not read`);
    const podIp = envOf(container).get('EGRESS_POD_IP');
    assert.deepEqual(podIp?.['valueFrom'], { fieldRef: { fieldPath: 'status.podIP' } }, `${container['name']}: EGRESS_POD_IP from the downward API`);
  }

  // The health port: named "health" (Felix looks it up by name), the one the daemon listens on, probed.
  const env = envOf(main);
  const healthPort = Number(env.get('HEALTH_PORT')?.['value']);
  const named = (main['ports'] as Obj[]).find((p) => p['name'] === 'health');
  assert.ok(named, 'a container port named health');
  assert.equal(named['containerPort'], healthPort);
  for (const [probe, path] of [['readinessProbe', READINESS_PATH], ['livenessProbe', LIVENESS_PATH]] as const) {
    const get = main[probe]['httpGet'] as Obj;
    assert.equal(get['path'], path, `${probe} path`);
    assert.equal(get['port'], 'health', `${probe} port`);
  }

  // The PolicySync socket: Felix's CSI volume (enterprise) or the agent's host folder (oss), mounted where
  // DAEMON_SOCKET_PATH expects it.
  const volume = (spec['volumes'] as Obj[]).find((v) => v['name'] === 'policysync');
  const mount = (main['volumeMounts'] as Obj[]).find((m) => m['name'] === 'policysync');
  assert.ok(mount, 'policysync mounted in the main container');
  const mountPath = String(mount['mountPath']).replace(/\/$/, '');
  if (mode === 'enterprise') {
    assert.deepEqual(volume?.['csi'], { driver: 'csi.tigera.io' });
    assert.equal(env.get('DAEMON_SOCKET_PATH')?.['value'], `${mountPath}/nodeagent/socket`);
  } else {
    assert.equal(volume?.['csi'], undefined);
    assert.equal(volume?.['hostPath']?.['type'], 'DirectoryOrCreate', 'the gateway may start before the agent');
    assert.equal(mountPath, '/var/run/nodeagent');
    assert.equal(env.get('DAEMON_SOCKET_PATH')?.['value'], DEFAULT_SOCKET_PATH, 'the daemon default finds the agent socket');
  }

  // The daemon guards vxlan0 on the interface init built it on.
  const underlay = envOf(init).get('EGRESS_INTERFACE')?.['value'];
  assert.ok(underlay, 'init is given EGRESS_INTERFACE');
  assert.equal(env.get('EGRESS_INTERFACE')?.['value'], underlay, 'init and the daemon name the same underlay interface');

  // The kubelet must not kill the gateway before the drain is over.
  const drain = goSeconds(String(env.get('DRAIN_DELAY')?.['value']));
  assert.ok(spec['terminationGracePeriodSeconds'] > drain, `grace ${spec['terminationGracePeriodSeconds']} must exceed drain ${drain}`);

  return { init, main, pod };
}

/** The OSS agent DaemonSet and its RBAC, as docs/helm-chart.md describes them. */
function checkAgent(objs: Obj[], gateway: Obj, privileged = false): Obj {
  const ds = only(objs, 'DaemonSet', 'egw-egress-gateway-agent');
  const spec = ds['spec']['template']['spec'];
  const labels = ds['spec']['template']['metadata']['labels'];
  assert.ok(selects(ds['spec']['selector'], labels));
  assert.equal(selects(gateway['spec']['selector'], labels), false, "the gateways' selector must not pick agent pods");
  assert.equal(labels[GATEWAY_LABEL[0]], undefined, 'the agent is not a gateway');
  assert.equal(spec['hostNetwork'], true);
  assert.equal(spec['dnsPolicy'], 'ClusterFirstWithHostNet');
  assert.deepEqual(spec['securityContext']['seccompProfile'], { type: 'RuntimeDefault' });
  assert.equal(spec['containers'].length, 1);
  const c = spec['containers'][0] as Obj;
  assert.deepEqual(c['command'], ['/usr/local/bin/egress-gateway', 'agent']);
  if (privileged) {
    assert.deepEqual(c['securityContext'], { privileged: true });
  } else {
    assert.deepEqual([...c['securityContext']['capabilities']['add']].sort(), ['NET_ADMIN', 'NET_RAW']);
    assert.deepEqual(c['securityContext']['capabilities']['drop'], ['ALL']);
    assert.equal(c['securityContext']['allowPrivilegeEscalation'], false);
    assert.notEqual(c['securityContext']['privileged'], true);
  }
  assert.ok(c['resources']['requests']['memory']);

  // The environment: only what `egress-gateway agent` reads (src/config/variables.ts), and every setting of
  // docs/agent.md's names; the values the agent's own defaults would give unless overridden.
  const env = envOf(c);
  const agentVariables = variablesFor('agent');
  const known = new Set(agentVariables.map((v) => v.name));
  for (const name of env.keys()) assert.ok(known.has(name) || TOOL_ENV.has(name), `the agent is given ${name}, which it does not read`);
  for (const name of Object.keys(AGENT_DEFAULT_ENV)) assert.ok(env.has(name), `the agent is given ${name}`);
  assert.deepEqual(env.get('NODE_NAME')?.['valueFrom'], { fieldRef: { fieldPath: 'spec.nodeName' } });
  assert.equal(env.get('XTABLES_LOCKFILE')?.['value'], '/run/xtables.lock', "the node's xtables lock, shared with Felix");

  // Its socket folder is the host folder the gateways mount; its health port is the one probed.
  const socket = String(env.get('AGENT_POLICYSYNC_SOCKET')?.['value']);
  const hostDir = (spec['volumes'] as Obj[]).find((v) => v['name'] === 'policysync')?.['hostPath']?.['path'];
  const gatewayDir = (gateway['spec']['template']['spec']['volumes'] as Obj[]).find((v) => v['name'] === 'policysync')?.['hostPath']?.['path'];
  assert.equal(hostDir, gatewayDir);
  assert.equal(socket, `${hostDir}/socket`);
  assert.equal((c['volumeMounts'] as Obj[]).find((m) => m['name'] === 'policysync')?.['mountPath'], hostDir);
  assert.ok((c['volumeMounts'] as Obj[]).some((m) => m['mountPath'] === '/run/xtables.lock'));
  const port = (c['ports'] as Obj[]).find((p) => p['name'] === 'health');
  assert.equal(String(port?.['containerPort']), env.get('AGENT_HEALTH_PORT')?.['value']);
  assert.equal(c['readinessProbe']['httpGet']['path'], READINESS_PATH);
  assert.equal(c['livenessProbe']['httpGet']['path'], LIVENESS_PATH);
  assert.equal(c['readinessProbe']['httpGet']['port'], 'health');

  // The selector it is given matches the gateways' pods.
  const [key, value] = String(env.get('AGENT_GATEWAY_SELECTOR')?.['value']).split('=');
  assert.equal(gateway['spec']['template']['metadata']['labels'][key as string], value);

  // RBAC: its own service account, read-only on exactly what the agent reads.
  const sa = only(objs, 'ServiceAccount');
  assert.equal(spec['serviceAccountName'], sa['metadata']['name']);
  const role = only(objs, 'ClusterRole');
  const binding = only(objs, 'ClusterRoleBinding');
  assert.deepEqual(binding['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role['metadata']['name'] });
  assert.deepEqual(binding['subjects'], [{ kind: 'ServiceAccount', name: sa['metadata']['name'], namespace: 'egress' }]);
  const granted = (role['rules'] as Obj[]).flatMap((r) =>
    (r['apiGroups'] as string[]).flatMap((g) => (r['resources'] as string[]).map((res) => `${g}/${res} ${[...r['verbs']].sort().join(',')}`)),
  );
  assert.deepEqual(granted.sort(), [
    '/namespaces get,list,watch',
    '/nodes get,list,watch',
    '/pods get,list,watch',
    'crd.projectcalico.org/ipamblocks get,list,watch',
    'crd.projectcalico.org/ippools get,list,watch',
  ]);
  return c;
}

/** Value sets that change what is rendered; every one must pass lint --strict and render valid objects. */
const everything = {
  metrics: { podMonitor: { enabled: true, labels: { release: 'prom' } }, prometheusRule: { enabled: true } },
  grafanaDashboard: { enabled: true },
  networkPolicy: {
    enabled: true,
    nodeCIDRs: ['198.51.100.0/24', '2001:db8::/64'],
    metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
  },
};
const scenarios: [string, Obj][] = [
  ['defaults', {}],
  ['DaemonSet', { kind: 'DaemonSet' }],
  ['oss', { mode: 'oss' }],
  ['oss DaemonSet', { mode: 'oss', kind: 'DaemonSet' }],
  ['everything on', everything],
  ['oss, everything on', { ...everything, mode: 'oss' }],
  ['ServiceMonitor', { metrics: { serviceMonitor: { enabled: true } } }],
  ['PDB minAvailable, no spread', { podDisruptionBudget: { maxUnavailable: null, minAvailable: '50%' }, topologySpreadConstraints: [] }],
  ['PDB off, audit log, digest', { podDisruptionBudget: { enabled: false }, auditLog: 'stdout', image: { digest: `sha256:${'ab'.repeat(32)}` } }],
];

describe('helm lint --strict and helm template', () => {
  for (const [name, values] of scenarios) {
    test(`${name}: lint passes, every object is valid`, () => {
      const lint = run('lint', values);
      assert.equal(lint.status, 0, `helm lint --strict failed:\n${lint.stdout}${lint.stderr}`);
      assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      const objs = render(values);
      const gateway = objs.find((o) => o['metadata']['name'] === 'egw-egress-gateway' && ['Deployment', 'DaemonSet'].includes(o['kind'])) as Obj;
      assert.ok(gateway, 'the gateway workload is rendered');
      const mode = values['mode'] === 'oss' ? 'oss' : 'enterprise';
      checkGateway(gateway, mode);
      if (mode === 'oss') checkAgent(objs, gateway);
      else assert.equal(objs.filter((o) => o['metadata']['name'] === 'egw-egress-gateway-agent').length, 0, 'no agent in mode enterprise');
    });
  }
});

describe('values.schema.json, as helm applies it', () => {
  /** values that helm must refuse: [what, values, the error expected]. */
  const bad: [string, Obj, RegExp][] = [
    ['an unknown kind', { kind: 'StatefulSet' }, /at '\/kind': value must be one of 'Deployment', 'DaemonSet'/],
    ['an unknown mode', { mode: 'cloud' }, /at '\/mode': value must be one of 'enterprise', 'oss'/],
    ['a VNI of 0', { vxlan: { vni: 0 } }, /at '\/vxlan\/vni': minimum: got 0, want 1/],
    ['a port above 65535', { vxlan: { port: 70000 } }, /at '\/vxlan\/port': maximum: got 70,000, want 65,535/],
    ['a duration that Go cannot parse', { probes: { icmp: { interval: '5 seconds' } } }, /at '\/probes\/icmp\/interval': '5 seconds' does not match pattern/],
    ['a misspelt key', { replicas: 2 }, /additional properties 'replicas' not allowed/],
    ['health port 0 (the probes need the server)', { health: { port: 0 } }, /at '\/health\/port': minimum: got 0, want 1/],
    ['a drain given as a string', { drainDelaySeconds: '10s' }, /at '\/drainDelaySeconds': got string, want integer/],
    ['an HTTP probe that is not a URL', { probes: { http: { urls: ['example'] } } }, /at '\/probes\/http\/urls\/0': 'example' does not match pattern/],
    ['a grace period of 0', { terminationGracePeriodSeconds: 0 }, /at '\/terminationGracePeriodSeconds': minimum: got 0, want 1/],
    ['an interface name longer than 15', { interface: 'a234567890123456' }, /at '\/interface': 'a234567890123456' does not match pattern/],
    ['an interface name with a space', { interface: 'eth0 -j ACCEPT' }, /at '\/interface': 'eth0 -j ACCEPT' does not match pattern/],
    ['an interface named ..', { interface: '..' }, /at '\/interface': 'not' failed/],
    ['an interface named .', { interface: '.' }, /at '\/interface': 'not' failed/],
    ['a surge of 0 (nothing could move with maxUnavailable 0)', { updateStrategy: { maxSurge: 0 } }, /at '\/updateStrategy\/maxSurge'/],
    ['agent route tables not a range', { agent: { routeTables: '1000' } }, /at '\/agent\/routeTables': '1000' does not match pattern/],
    ['agent multipath hash not l3 or l4', { agent: { multipathHash: 'l5' } }, /at '\/agent\/multipathHash': value must be one of/],
    ['agent teardown not a boolean', { agent: { teardown: 'later' } }, /at '\/agent\/teardown': got string, want boolean/],
    ['a node CIDR without a prefix length', { networkPolicy: { nodeCIDRs: ['198.51.100.0'] } }, /at '\/networkPolicy\/nodeCIDRs\/0'/],
    ['a digest that is not sha256', { image: { digest: 'latest' } }, /at '\/image\/digest': 'latest' does not match pattern/],
  ];
  for (const [name, values, expected] of bad) {
    test(`refuses ${name}`, () => {
      for (const command of ['template', 'lint'] as const) {
        const r = run(command, values);
        assert.notEqual(r.status, 0, `${command} accepted it`);
        assert.match(r.stdout + r.stderr, expected);
      }
    });
  }

  test('interface names Linux accepts pass, including dots and dashes (no lookahead: Go regexp has none)', () => {
    for (const name of ['eth0', 'ens5', 'bond0.100', 'a-b_c', '...', 'a23456789012345']) {
      const r = run('template', { interface: name });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    }
  });
});

describe('the rendered objects', () => {
  test('defaults: a Deployment, its PDB, nothing else; the values the daemon gets', () => {
    const objs = render();
    assert.deepEqual(kinds(objs), ['Deployment', 'PodDisruptionBudget']);
    const workload = only(objs, 'Deployment');
    const { init, main, pod } = checkGateway(workload, 'enterprise');
    assert.equal(workload['spec']['replicas'], 1);
    assert.equal(workload['spec']['minReadySeconds'], 10);
    assert.deepEqual(workload['spec']['strategy']['rollingUpdate'], { maxSurge: 1, maxUnavailable: 0 });
    assert.equal(pod['metadata']['labels']['egress-code'], 'red');
    assert.equal(pod['metadata']['annotations'], undefined, 'no IP pool annotation without ipPools');
    assert.equal(init['image'], `egress-gateway:${chart['appVersion']}`);
    assert.equal(main['imagePullPolicy'], 'IfNotPresent');
    assert.deepEqual(main['resources'], { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } });

    const env = envOf(main);
    assert.deepEqual(env.get('EGRESS_POD_IPS')?.['valueFrom'], { fieldRef: { fieldPath: 'status.podIPs' } });
    assert.equal(env.get('DAEMON_SOCKET_PATH')?.['value'], DEFAULT_SOCKET_PATH);
    assert.equal(env.get('HEALTH_PORT')?.['value'], String(DEFAULT_HEALTH_PORT));
    const settings = Object.fromEntries([...env].filter(([, e]) => 'value' in e).map(([k, e]) => [k, e['value']]));
    assert.deepEqual(settings, {
      LOG_SEVERITY: 'info',
      DAEMON_SOCKET_PATH: '/var/run/nodeagent/socket',
      EGRESS_VXLAN_VNI: '4097',
      EGRESS_VXLAN_PORT: '4790',
      EGRESS_INTERFACE: 'eth0',
      HEALTH_PORT: '8080',
      HEALTH_TIMEOUT_DATASTORE: '90s',
      ICMP_PROBE_IPS: '',
      ICMP_PROBE_INTERVAL: '5s',
      ICMP_PROBE_TIMEOUT: '15s',
      HTTP_PROBE_URLS: '',
      HTTP_PROBE_INTERVAL: '10s',
      HTTP_PROBE_TIMEOUT: '10s',
      DRAIN_DELAY: '10s',
    });
    const spec = workload['spec']['template']['spec'];
    assert.equal(spec['terminationGracePeriodSeconds'], 20);
    assert.deepEqual(spec['nodeSelector'], { 'kubernetes.io/os': 'linux' });
    // Spread over zones, then nodes, counting this release's gateways only.
    assert.deepEqual(
      (spec['topologySpreadConstraints'] as Obj[]).map((c) => [c['topologyKey'], c['maxSkew'], c['whenUnsatisfiable']]),
      [['topology.kubernetes.io/zone', 1, 'ScheduleAnyway'], ['kubernetes.io/hostname', 1, 'ScheduleAnyway']],
    );
    for (const c of spec['topologySpreadConstraints'] as Obj[]) assert.deepEqual(c['labelSelector'], workload['spec']['selector']);
    const initEnv = envOf(init);
    assert.equal(initEnv.get('EGRESS_VXLAN_VNI')?.['value'], '4097');
    assert.equal(initEnv.get('EGRESS_VXLAN_PORT')?.['value'], '4790');
    assert.equal(initEnv.get('DATAPLANE')?.['value'], 'iptables');
    assert.equal(initEnv.has('IPTABLES_BACKEND'), false, 'backend detected when not set');

    const pdb = only(objs, 'PodDisruptionBudget');
    assert.equal(pdb['spec']['maxUnavailable'], 1);
    assert.deepEqual(pdb['spec']['selector'], workload['spec']['selector']);
  });

  test('kind DaemonSet: no replicas, no spread constraints, a surge update', () => {
    const workload = only(render({ kind: 'DaemonSet', replicaCount: 3 }), 'DaemonSet');
    checkGateway(workload, 'enterprise');
    assert.equal('replicas' in workload['spec'], false);
    assert.equal(workload['spec']['template']['spec']['topologySpreadConstraints'], undefined);
    assert.deepEqual(workload['spec']['updateStrategy'], { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  test('mode oss: the agent DaemonSet with its documented defaults, gateways on its host socket folder', () => {
    const objs = render({ mode: 'oss' });
    assert.deepEqual(kinds(objs), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Deployment', 'PodDisruptionBudget', 'ServiceAccount']);
    const gateway = only(objs, 'Deployment');
    checkGateway(gateway, 'oss');
    const agent = checkAgent(objs, gateway);
    assert.equal(gateway['spec']['template']['spec']['volumes'][0]['hostPath']['path'], '/var/run/egress-gateway/policysync');
    const env = envOf(agent);
    for (const [name, value] of Object.entries(AGENT_DEFAULT_ENV)) {
      if (value === undefined) continue;
      assert.equal(env.get(name)?.['value'], value, `${name} default`);
      const own = variablesFor('agent').find((v) => v.name === name)?.default;
      assert.equal(own ?? '', value, `${name}: the chart's default is the agent's own`);
    }
    const ds = only(objs, 'DaemonSet');
    const spec = ds['spec']['template']['spec'];
    assert.deepEqual(spec['tolerations'], [{ operator: 'Exists' }], 'client pods can be on any node');
    assert.equal(spec['priorityClassName'], 'system-node-critical');
    assert.equal(spec['automountServiceAccountToken'], undefined, 'the agent needs its token');
    assert.deepEqual(ds['spec']['updateStrategy'], { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    assert.equal(agent['image'], gateway['spec']['template']['spec']['containers'][0]['image'], 'one image for both');
  });

  test('mode oss with the agent settings overridden: each reaches its variable', () => {
    const objs = render({
      mode: 'oss',
      vxlan: { vni: 4200, port: 4800 },
      logSeverity: 'debug',
      agent: {
        routeTables: '2000-2099',
        rulePriority: 120,
        healthPort: 9600,
        socketDir: '/run/egw',
        logSeverity: 'warning',
        bypassCIDRs: ['198.51.100.0/24', '203.0.113.0/24'],
        gatewayPoll: { interval: '5s', timeout: '2s', failures: 2 },
        gatewayStream: { enabled: false, heartbeat: '250ms' },
        gatewayEcho: { interval: '0', misses: 5 },
        flowGrace: '30s',
        flowMarkMask: '0',
        privileged: true,
        extraEnv: [{ name: 'KUBECONFIG', value: '/etc/kube/config' }],
      },
    });
    const gateway = only(objs, 'Deployment');
    checkGateway(gateway, 'oss');
    const env = envOf(checkAgent(objs, gateway, true));
    assert.equal(env.get('EGRESS_VXLAN_VNI')?.['value'], '4200');
    assert.equal(env.get('EGRESS_VXLAN_PORT')?.['value'], '4800');
    assert.equal(env.get('AGENT_ROUTE_TABLES')?.['value'], '2000-2099');
    assert.equal(env.get('AGENT_RULE_PRIORITY')?.['value'], '120');
    assert.equal(env.get('AGENT_HEALTH_PORT')?.['value'], '9600');
    assert.equal(env.get('AGENT_POLICYSYNC_SOCKET')?.['value'], '/run/egw/socket');
    assert.equal(env.get('LOG_SEVERITY')?.['value'], 'warning');
    assert.equal(env.get('KUBECONFIG')?.['value'], '/etc/kube/config');
    assert.equal(env.get('AGENT_BYPASS_CIDRS')?.['value'], '198.51.100.0/24,203.0.113.0/24');
    assert.equal(env.get('AGENT_GATEWAY_POLL_INTERVAL')?.['value'], '5s');
    assert.equal(env.get('AGENT_GATEWAY_POLL_TIMEOUT')?.['value'], '2s');
    assert.equal(env.get('AGENT_GATEWAY_POLL_FAILURES')?.['value'], '2');
    assert.equal(env.get('AGENT_GATEWAY_STREAM')?.['value'], 'false');
    assert.equal(env.get('AGENT_GATEWAY_STREAM_HEARTBEAT')?.['value'], '250ms');
    assert.equal(env.get('AGENT_GATEWAY_ECHO_INTERVAL')?.['value'], '0');
    assert.equal(env.get('AGENT_GATEWAY_ECHO_MISSES')?.['value'], '5');
    assert.equal(env.get('AGENT_FLOW_GRACE')?.['value'], '30s');
    assert.equal(env.get('AGENT_FLOW_MARK_MASK')?.['value'], '0');
    assert.equal(envOf(gateway['spec']['template']['spec']['containers'][0]).get('EGRESS_VXLAN_VNI')?.['value'], '4200', 'gateway and agent share the VXLAN');
  });

  test('mode oss: AGENT_MULTIPATH_HASH is l4 (per-connection spread), l3 or left out for the node\'s own setting', () => {
    const hashOf = (agent: unknown): string | undefined => {
      const objs = render({ mode: 'oss', ...(agent !== undefined ? { agent } : {}) });
      return envOf(checkAgent(objs, only(objs, 'Deployment'))).get('AGENT_MULTIPATH_HASH')?.['value'];
    };
    assert.equal(hashOf(undefined), 'l4', "the chart's default: the agent's own is to leave the node alone");
    assert.equal(hashOf({ multipathHash: 'l3' }), 'l3');
    assert.equal(hashOf({ multipathHash: '' }), undefined);
    assert.ok(variablesFor('agent').some((v) => v.name === 'AGENT_MULTIPATH_HASH'), 'the agent reads it');
  });

  test('mode oss, agent.teardown: each agent pod runs `egress-gateway agent --teardown` with the settings it ran with, then idles', () => {
    const objs = render({ mode: 'oss', agent: { teardown: true, routeTables: '2000-2099', rulePriority: 120, socketDir: '/run/egw' } });
    const ds = only(objs, 'DaemonSet', 'egw-egress-gateway-agent');
    const spec = ds['spec']['template']['spec'];
    assert.equal(spec['hostNetwork'], true, "the node's own network namespace");
    const inits = spec['initContainers'] as Obj[];
    assert.equal(inits.length, 1);
    const init = inits[0] as Obj;
    assert.deepEqual(init['command'], ['/usr/local/bin/egress-gateway', 'agent', '--teardown']);
    const env = envOf(init);
    assert.deepEqual([...env.keys()].sort(), ['AGENT_POLICYSYNC_SOCKET', 'AGENT_ROUTE_TABLES', 'AGENT_RULE_PRIORITY', 'LOG_SEVERITY']);
    assert.equal(env.get('AGENT_ROUTE_TABLES')?.['value'], '2000-2099');
    assert.equal(env.get('AGENT_RULE_PRIORITY')?.['value'], '120');
    assert.equal(env.get('AGENT_POLICYSYNC_SOCKET')?.['value'], '/run/egw/socket');
    for (const name of env.keys()) assert.ok(variablesFor('agent').some((v) => v.name === name), `--teardown reads ${name}`);
    assert.deepEqual(init['securityContext']['capabilities']['add'], ['NET_ADMIN', 'NET_RAW'], 'netlink and nftables writes');
    assert.deepEqual(init['volumeMounts'], [{ name: 'policysync', mountPath: '/run/egw' }], 'the socket file to remove');
    const containers = spec['containers'] as Obj[];
    assert.equal(containers.length, 1, 'no agent runs any more: it would program the node again');
    const idle = containers[0] as Obj;
    assert.deepEqual(idle['command'], ['/bin/sleep', 'infinity']);
    assert.equal(idle['readinessProbe'], undefined, 'Ready once the init container exited 0');
    assert.deepEqual(idle['securityContext']['capabilities'], { drop: ['ALL'] });
    // The rest of the release stays as it was until `helm uninstall`.
    assert.equal(only(objs, 'ClusterRole')['rules'].length > 0, true);
    const normal = only(render({ mode: 'oss' }), 'DaemonSet', 'egw-egress-gateway-agent')['spec']['template']['spec'];
    assert.equal(normal['initContainers'], undefined);
    assert.equal(normal['containers'][0]['name'], 'egress-gateway-agent');
  });

  test('overridden values reach the manifest', () => {
    const override = {
      replicaCount: 2,
      updateStrategy: { maxSurge: '50%' },
      minReadySeconds: 20,
      image: { repository: 'registry.example/egress-gateway', tag: 'v9.9.9', pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'pull-secret' }],
      gatewayLabels: { 'egress-code': 'blue' },
      podLabels: { team: 'net' },
      ipPools: { ipv4: ['egress-ippool-1'], ipv6: ['egress-ippool-v6'] },
      policySync: { mountPath: '/var/run/calico' },
      vxlan: { vni: 4200, port: 4800 },
      interface: 'ens5',
      dataplane: 'nftables',
      iptablesBackend: 'nft',
      podIPsEnv: false,
      probes: { icmp: { ips: ['198.51.100.1', '203.0.113.1'] }, http: { urls: ['http://198.51.100.80/'], timeout: '30s' } },
      health: { port: 9090, timeoutDatastore: '2m' },
      logSeverity: 'debug',
      drainDelaySeconds: 30,
      extraEnv: [{ name: 'RESYNC_INTERVAL', value: '1m' }],
      auditLog: '/var/log/egress-gateway/audit.jsonl',
      extraVolumes: [{ name: 'audit', hostPath: { path: '/var/log/egress-gateway', type: 'DirectoryOrCreate' } }],
      extraVolumeMounts: [{ name: 'audit', mountPath: '/var/log/egress-gateway' }],
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      nodeSelector: { 'kubernetes.io/os': 'linux', 'egress-node': 'true' },
      tolerations: [{ key: 'egress', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'egress-code': 'blue' } } } },
          ],
        },
      },
    };
    const lint = run('lint', override);
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    const workload = only(render(override), 'Deployment');
    const { init, main, pod } = checkGateway(workload, 'enterprise');
    const spec = pod['spec'];
    assert.equal(workload['metadata']['name'], 'egw-egress-gateway');
    assert.equal(workload['spec']['replicas'], 2);
    assert.equal(workload['spec']['minReadySeconds'], 20);
    assert.equal(workload['spec']['strategy']['rollingUpdate']['maxSurge'], '50%');
    assert.equal(main['image'], 'registry.example/egress-gateway:v9.9.9');
    assert.equal(init['imagePullPolicy'], 'Always');
    assert.deepEqual(spec['imagePullSecrets'], [{ name: 'pull-secret' }]);
    assert.equal(pod['metadata']['labels']['egress-code'], 'blue');
    assert.equal(pod['metadata']['labels']['team'], 'net');
    assert.deepEqual(JSON.parse(pod['metadata']['annotations']['cni.projectcalico.org/ipv4pools']), ['egress-ippool-1']);
    assert.deepEqual(JSON.parse(pod['metadata']['annotations']['cni.projectcalico.org/ipv6pools']), ['egress-ippool-v6']);
    assert.deepEqual(spec['tolerations'], override.tolerations);
    assert.deepEqual(spec['affinity'], override.affinity);
    assert.deepEqual(spec['nodeSelector'], override.nodeSelector);
    assert.deepEqual(main['resources'], override.resources);

    const env = envOf(main);
    assert.equal(env.get('DAEMON_SOCKET_PATH')?.['value'], '/var/run/calico/nodeagent/socket');
    assert.equal(env.get('ICMP_PROBE_IPS')?.['value'], '198.51.100.1,203.0.113.1');
    assert.equal(env.get('HTTP_PROBE_URLS')?.['value'], 'http://198.51.100.80/');
    assert.equal(env.get('HTTP_PROBE_TIMEOUT')?.['value'], '30s');
    assert.equal(env.get('HEALTH_PORT')?.['value'], '9090');
    assert.equal(env.get('HEALTH_TIMEOUT_DATASTORE')?.['value'], '2m');
    assert.equal(env.get('LOG_SEVERITY')?.['value'], 'debug');
    assert.equal(env.get('RESYNC_INTERVAL')?.['value'], '1m');
    assert.equal(env.get('DRAIN_DELAY')?.['value'], '30s');
    // The audit log's file lands on the volume mounted for it, next to the PolicySync socket's.
    assert.equal(env.get('AUDIT_LOG')?.['value'], '/var/log/egress-gateway/audit.jsonl');
    assert.deepEqual(main['volumeMounts'][1], override.extraVolumeMounts[0]);
    assert.deepEqual((spec['volumes'] as Obj[]).map((v) => v['name']), ['policysync', 'audit']);
    assert.deepEqual(spec['volumes'][1], override.extraVolumes[0]);
    assert.equal(env.has('EGRESS_POD_IPS'), false);
    assert.equal(spec['terminationGracePeriodSeconds'], 40, 'drain + 10 s by default');

    const initEnv = envOf(init);
    assert.equal(initEnv.get('EGRESS_VXLAN_VNI')?.['value'], '4200');
    assert.equal(initEnv.get('EGRESS_VXLAN_PORT')?.['value'], '4800');
    assert.equal(initEnv.get('DATAPLANE')?.['value'], 'nftables');
    assert.equal(initEnv.get('IPTABLES_BACKEND')?.['value'], 'nft');
    assert.equal(initEnv.get('EGRESS_INTERFACE')?.['value'], 'ens5');
    assert.equal(env.get('EGRESS_INTERFACE')?.['value'], 'ens5');
  });

  test('a digest pins the image and wins over the tag', () => {
    const digest = `sha256:${'0f'.repeat(32)}`;
    const workload = only(render({ image: { repository: 'registry.example/egw', tag: 'v1', digest } }), 'Deployment');
    for (const c of [...workload['spec']['template']['spec']['initContainers'], ...workload['spec']['template']['spec']['containers']] as Obj[]) {
      assert.equal(c['image'], `registry.example/egw@${digest}`);
    }
  });

  test('auditLog gives AUDIT_LOG to both containers (init turns on conntrack accounting), and nothing when off', () => {
    const on = checkGateway(only(render({ auditLog: 'stdout' }), 'Deployment'), 'enterprise');
    assert.equal(envOf(on.init).get('AUDIT_LOG')?.['value'], 'stdout');
    assert.equal(envOf(on.main).get('AUDIT_LOG')?.['value'], 'stdout');
    const off = checkGateway(only(render(), 'Deployment'), 'enterprise');
    assert.equal(envOf(off.init).has('AUDIT_LOG'), false);
    assert.equal(envOf(off.main).has('AUDIT_LOG'), false);
  });

  test('an explicit grace period longer than the drain is kept', () => {
    const workload = only(render({ drainDelaySeconds: 15, terminationGracePeriodSeconds: 16 }), 'Deployment');
    assert.equal(workload['spec']['template']['spec']['terminationGracePeriodSeconds'], 16);
  });

  for (const [grace, drain] of [[10, 10], [5, 10], [1, 1]] as const) {
    test(`refuses a grace period of ${grace}s with a drain of ${drain}s`, () => {
      const r = run('template', { drainDelaySeconds: drain, terminationGracePeriodSeconds: grace });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`terminationGracePeriodSeconds \\(${grace}\\) must be longer than drainDelaySeconds \\(${drain}\\)`));
      assert.equal(r.stdout, '');
    });
  }

  test('refuses a PDB with both or neither of maxUnavailable and minAvailable', () => {
    for (const pdb of [{ maxUnavailable: 1, minAvailable: 1 }, { maxUnavailable: null, minAvailable: null }]) {
      const r = run('template', { podDisruptionBudget: pdb });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /podDisruptionBudget: set exactly one of maxUnavailable and minAvailable/);
    }
  });

  test('refuses a NetworkPolicy without node CIDRs, and two monitors at once', () => {
    const np = run('template', { networkPolicy: { enabled: true } });
    assert.notEqual(np.status, 0);
    assert.match(np.stderr, /networkPolicy\.nodeCIDRs is required/);
    const both = run('template', { metrics: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true } } });
    assert.notEqual(both.status, 0);
    assert.match(both.stderr, /enable podMonitor or serviceMonitor, not both/);
  });

  test('NetworkPolicy: VXLAN and health from the node CIDRs, metrics from the scrapers, egress left open', () => {
    const objs = render(everything);
    const np = only(objs, 'NetworkPolicy');
    assert.deepEqual(np['spec']['podSelector'], only(objs, 'Deployment')['spec']['selector']);
    assert.deepEqual(np['spec']['policyTypes'], ['Ingress']);
    const [nodes, scrapers] = np['spec']['ingress'] as Obj[];
    assert.deepEqual(nodes?.['from'], [{ ipBlock: { cidr: '198.51.100.0/24' } }, { ipBlock: { cidr: '2001:db8::/64' } }]);
    assert.deepEqual(nodes['ports'], [{ protocol: 'UDP', port: 4790 }, { protocol: 'TCP', port: 8080 }]);
    assert.deepEqual(scrapers?.['from'], everything.networkPolicy.metricsFrom);
    assert.deepEqual(scrapers['ports'], [{ protocol: 'TCP', port: 8080 }]);
    // Mode oss: the agents' ICMP echo comes from the nodes too; a NetworkPolicy cannot name ICMP.
    const ossNp = only(render({ ...everything, mode: 'oss' }), 'NetworkPolicy');
    const [ossNodes, ossScrapers, ...more] = ossNp['spec']['ingress'] as Obj[];
    assert.deepEqual(ossNodes?.['from'], nodes['from']);
    assert.equal(ossNodes['ports'], undefined, 'every protocol from the nodes (ICMP too)');
    assert.deepEqual(ossScrapers?.['from'], everything.networkPolicy.metricsFrom);
    assert.deepEqual(more, []);
  });

  test('PodMonitor scrapes /metrics on the health port of the gateways, and of the agent in mode oss', () => {
    const ent = render(everything);
    const gw = only(ent, 'Deployment');
    const pm = only(ent, 'PodMonitor');
    assert.equal(pm['metadata']['labels']['release'], 'prom');
    assert.deepEqual(pm['spec']['podMetricsEndpoints'], [{ port: 'health', path: '/metrics', interval: '30s' }]);
    assert.ok(selects(pm['spec']['selector'], gw['spec']['template']['metadata']['labels']));
    const oss = render({ ...everything, mode: 'oss' });
    const ossPm = only(oss, 'PodMonitor');
    assert.ok(selects(ossPm['spec']['selector'], only(oss, 'Deployment')['spec']['template']['metadata']['labels']));
    assert.ok(selects(ossPm['spec']['selector'], only(oss, 'DaemonSet')['spec']['template']['metadata']['labels']));
  });

  test('ServiceMonitor: a headless Service over the gateways, scraped on health', () => {
    const objs = render({ metrics: { serviceMonitor: { enabled: true } } });
    const svc = only(objs, 'Service');
    const gw = only(objs, 'Deployment');
    assert.equal(svc['spec']['clusterIP'], 'None');
    assert.ok(selects({ matchLabels: svc['spec']['selector'] }, gw['spec']['template']['metadata']['labels']));
    assert.deepEqual(svc['spec']['ports'], [{ name: 'health', port: 8080, targetPort: 'health', protocol: 'TCP' }]);
    const sm = only(objs, 'ServiceMonitor');
    assert.ok(selects(sm['spec']['selector'], svc['metadata']['labels']));
    assert.deepEqual(sm['spec']['endpoints'], [{ port: 'health', path: '/metrics', interval: '30s' }]);
  });

  test('NOTES.txt (helm install --dry-run=client) names the selector clients use, per mode', () => {
    const ent = run('install', {});
    assert.equal(ent.status, 0, ent.stderr);
    const notes = ent.stdout.slice(ent.stdout.indexOf('NOTES:'));
    assert.match(notes, /egress\.projectcalico\.org\/selector="egress-code == 'red'"/);
    assert.match(notes, /namespaceSelector="projectcalico\.org\/name == 'egress'"/);
    assert.match(notes, /No ipPools set/);
    assert.match(notes, /policySyncPathPrefix/);
    const oss = run('install', { mode: 'oss' });
    assert.equal(oss.status, 0, oss.stderr);
    const ossNotes = oss.stdout.slice(oss.stdout.indexOf('NOTES:'));
    assert.match(ossNotes, /egw-egress-gateway-agent/);
    assert.doesNotMatch(ossNotes, /policySyncPathPrefix/, 'OSS Felix is not asked for anything');
  });
});

describe('alerts and the dashboard use metrics the gateway exports', () => {
  /** Every series name the gateway's registry can expose (histograms as their three series). */
  async function exported(metrics: { registry: Registry } = createMetrics()): Promise<Set<string>> {
    const names = new Set<string>(['up']);
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
    }
    return names;
  }
  /**
   * Series of one container as a PodMonitor labels them (namespace egress unless given), and an alert's
   * expected firing: none at 4 minutes, at 6 (the default `for` is 5m), with its labels and annotations
   * as Prometheus fills them in.
   */
  function alertCase(container: string, rules: Obj[]): {
    series: (name: string, pod: string, values: string, extra?: string, ns?: string) => Obj;
    fires: (alert: string, pod: string, value: string, extra?: Obj) => Obj[];
  } {
    const annotationsOf = (alert: string, pod: string, value: string): Obj => {
      const a = rules.find((r) => r['alert'] === alert)?.['annotations'] as Obj;
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, String(v).replaceAll('{{ $labels.pod }}', pod).replaceAll('{{ $value }}', value)]));
    };
    return {
      series: (name, pod, values, extra = '', ns = 'egress') => ({ series: `${name}{namespace="${ns}", container="${container}", pod="${pod}"${extra}}`, values }),
      fires: (alert, pod, value, extra = {}) => [
        { eval_time: '4m', alertname: alert, exp_alerts: [] },
        {
          eval_time: '6m',
          alertname: alert,
          exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'egress', container, pod, ...extra }, exp_annotations: annotationsOf(alert, pod, value) }],
        },
      ],
    };
  }
  /** `promtool check rules` and `promtool test rules` on rule groups, with one test of these series; both must pass. */
  function promtoolTest(name: string, groups: Obj[], inputSeries: Obj[], alertTests: Obj[]): { check: string } {
    const promtool = promtoolBinary();
    const rulesFile = join(work, `${name}.yaml`);
    writeFileSync(rulesFile, stringify({ groups }));
    const check = spawnSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
    const testsFile = join(work, `${name}.test.yaml`);
    const tests = { rule_files: [rulesFile], evaluation_interval: '1m', tests: [{ interval: '1m', input_series: inputSeries, alert_rule_test: alertTests }] };
    writeFileSync(testsFile, stringify(tests));
    const run = spawnSync(promtool, ['test', 'rules', testsFile], { encoding: 'utf8' });
    assert.equal(run.status, 0, `promtool test rules:\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /SUCCESS/);
    return { check: check.stdout };
  }
  function metricNames(expr: string): string[] {
    return [...expr.matchAll(/\b(egress_gateway_[a-z0-9_]+|up(?=\{))/g)].map((m) => m[1] as string);
  }

  test('PrometheusRule: the four conditions of issue #13, each on an exported metric', async () => {
    const names = await exported();
    const rule = only(render({ metrics: { prometheusRule: { enabled: true, snatPortPressure: 40000, for: '2m' } } }), 'PrometheusRule');
    const rules = (rule['spec']['groups'] as Obj[]).flatMap((g) => g['rules'] as Obj[]);
    assert.deepEqual(rules.map((r) => r['alert']).sort(), [
      'EgressGatewayDown',
      'EgressGatewayNotReady',
      'EgressGatewayPolicySyncOutOfSync',
      'EgressGatewayReconcileErrors',
      'EgressGatewaySNATPortPressure',
    ]);
    for (const r of rules) {
      const used = metricNames(r['expr']);
      assert.ok(used.length > 0, `${r['alert']}: names a metric`);
      for (const n of used) assert.ok(names.has(n), `${r['alert']}: ${n} is not exported`);
      assert.match(r['expr'], /namespace="egress", container="egress-gateway"/, `${r['alert']}: this release's gateways only`);
      assert.equal(r['for'], '2m');
    }
    const byName = new Map(rules.map((r) => [r['alert'] as string, r['expr'] as string]));
    assert.match(byName.get('EgressGatewayPolicySyncOutOfSync') ?? '', /state="in_sync"\} == 0/);
    assert.match(byName.get('EgressGatewaySNATPortPressure') ?? '', /> 40000$/);
  });

  test('promtool: the rules load, and each alert fires on its condition for this release only', () => {
    const rule = only(render({ metrics: { prometheusRule: { enabled: true, snatPortPressure: 40000 } } }), 'PrometheusRule');
    // Series as a PodMonitor labels them: gw-a is this release's and failing, gw-b is healthy, and
    // gw-x (another namespace) fails too but is not this release's business.
    const { series: s, fires } = alertCase('egress-gateway', rule['spec']['groups'][0]['rules'] as Obj[]);
    const out = promtoolTest('rules', rule['spec']['groups'] as Obj[], [
      s('egress_gateway_ready', 'gw-a', '0x10'),
      s('egress_gateway_ready', 'gw-b', '1x10'),
      s('egress_gateway_ready', 'gw-x', '0x10', '', 'other'),
      s('up', 'gw-a', '0x10'),
      s('up', 'gw-b', '1x10'),
      s('egress_gateway_policysync_state', 'gw-a', '0x10', ', state="in_sync"'),
      s('egress_gateway_policysync_state', 'gw-a', '1x10', ', state="disconnected"'),
      s('egress_gateway_policysync_state', 'gw-b', '1x10', ', state="in_sync"'),
      s('egress_gateway_reconcile_errors_total', 'gw-a', '0+1x10'),
      s('egress_gateway_reconcile_errors_total', 'gw-b', '3x10'),
      s('egress_gateway_snat_source_ports_in_use_max', 'gw-a', '45000x10'),
      s('egress_gateway_snat_source_ports_in_use_max', 'gw-b', '39000x10'),
    ], [
      ...fires('EgressGatewayNotReady', 'gw-a', '0'),
      ...fires('EgressGatewayDown', 'gw-a', '0'),
      ...fires('EgressGatewayPolicySyncOutOfSync', 'gw-a', '0', { state: 'in_sync' }),
      ...fires('EgressGatewayReconcileErrors', 'gw-a', '10'),
      ...fires('EgressGatewaySNATPortPressure', 'gw-a', '45000'),
    ]);
    assert.match(out.check, /SUCCESS: 5 rules found/);
  });

  test('mode oss: the agent\'s alerts, on metrics the agent exports, fire for this release\'s agents only', async () => {
    const names = await exported(createAgentMetrics());
    const rule = only(render({ mode: 'oss', metrics: { prometheusRule: { enabled: true } } }), 'PrometheusRule');
    const [gateways, agents] = rule['spec']['groups'] as Obj[];
    assert.equal((gateways?.['rules'] as Obj[]).length, 5, 'the gateways\' rules as in mode enterprise');
    const rules = agents?.['rules'] as Obj[];
    assert.deepEqual(rules.map((r) => r['alert']).sort(), [
      'EgressGatewayAgentInvalidAnnotations',
      'EgressGatewayAgentNotReady',
      'EgressGatewayAgentPodsFailedClosed',
      'EgressGatewayAgentSteeringErrors',
    ]);
    for (const r of rules) {
      const used = metricNames(r['expr']);
      assert.ok(used.length > 0, `${r['alert']}: names a metric`);
      for (const n of used) assert.ok(names.has(n), `${r['alert']}: ${n} is not exported by the agent`);
      assert.match(r['expr'], /namespace="egress", container="egress-gateway-agent"/);
    }
    assert.equal(only(render({ metrics: { prometheusRule: { enabled: true } } }), 'PrometheusRule')['spec']['groups'].length, 1, 'mode enterprise: no agent rules');

    // agent-a (this release's) is in trouble in every way; agent-b is fine; agent-x is another release's.
    const { series: s, fires } = alertCase('egress-gateway-agent', rules);
    promtoolTest('agent-rules', [agents as Obj], [
      s('egress_gateway_agent_ready', 'agent-a', '0x10'),
      s('egress_gateway_agent_ready', 'agent-b', '1x10'),
      s('egress_gateway_agent_ready', 'agent-x', '0x10', '', 'other'),
      s('egress_gateway_agent_failed_closed_pods', 'agent-a', '3x10'),
      s('egress_gateway_agent_failed_closed_pods', 'agent-b', '0x10'),
      s('egress_gateway_agent_steering_applies_total', 'agent-a', '0+1x10', ', result="error"'),
      s('egress_gateway_agent_steering_applies_total', 'agent-b', '0+5x10', ', result="ok"'),
      s('egress_gateway_agent_steering_applies_total', 'agent-b', '2x10', ', result="error"'),
      s('egress_gateway_agent_invalid_annotation_pods', 'agent-a', '1x10'),
      s('egress_gateway_agent_invalid_annotation_pods', 'agent-b', '0x10'),
    ], [
      ...fires('EgressGatewayAgentNotReady', 'agent-a', '0'),
      ...fires('EgressGatewayAgentPodsFailedClosed', 'agent-a', '3'),
      ...fires('EgressGatewayAgentSteeringErrors', 'agent-a', '10', { result: 'error' }),
      ...fires('EgressGatewayAgentInvalidAnnotations', 'agent-a', '1'),
    ]);
  });

  test('the Grafana dashboard: valid JSON, every query on an exported metric, shipped as a ConfigMap', async () => {
    const names = await exported();
    const file = readFileSync(join(chartDir, 'dashboards', 'egress-gateway.json'), 'utf8');
    const dashboard = JSON.parse(file) as Obj;
    const exprs = (dashboard['panels'] as Obj[]).flatMap((p) => (p['targets'] as Obj[]).map((t) => t['expr'] as string));
    assert.ok(exprs.length >= 10);
    for (const expr of exprs) {
      const used = metricNames(expr);
      assert.ok(used.length > 0, `${expr}: names a metric`);
      for (const n of used) assert.ok(names.has(n), `${expr}: ${n} is not exported`);
    }
    const cm = only(render({ grafanaDashboard: { enabled: true } }), 'ConfigMap');
    assert.equal(cm['metadata']['labels']['grafana_dashboard'], '1');
    assert.deepEqual(JSON.parse(cm['data']['egress-gateway.json']), dashboard);
  });
});
