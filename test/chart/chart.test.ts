/**
 * Renders charts/egress-gateway with a real Go-template engine (tools/chart-render: text/template + sprig,
 * the engine Helm uses) and holds the output to the Kubernetes API schemas (kubernetes-models) and to what
 * the gateway needs. Needs Go and Debian's packaged sprig: apt-get install golang-go
 * golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev. Without them
 * the test fails (it never skips): CI must run it.
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
import { packageRoot } from '../../src/package-root';
import { DEFAULT_HEALTH_PORT, DEFAULT_SOCKET_PATH, LIVENESS_PATH, READINESS_PATH, variablesFor, type CommandName } from '../../src/config/variables';
import { validateJsonSchema, type Schema } from './json-schema';

/** Where Debian installs packaged Go libraries (sprig, yaml); the build uses GOPATH mode, offline. */
const DEBIAN_GOCODE = '/usr/share/gocode';

const root = packageRoot();
const chartDir = join(root, 'charts', 'egress-gateway');
const defaultValues = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema;

type Obj = Record<string, any>; // rendered manifests: shapes are asserted, not typed

let work = '';
let renderer = '';

before(() => {
  work = mkdtempSync(join(tmpdir(), 'egw-chart-'));
  renderer = join(work, 'chart-render');
  const built = spawnSync('go', ['build', '-o', renderer, './tools/chart-render'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${DEBIAN_GOCODE}:${join(work, 'gopath')}`, GOFLAGS: '' },
  });
  if (built.error || built.status !== 0) {
    assert.fail(
      `building tools/chart-render failed (needs apt packages golang-go golang-github-masterminds-sprig-dev ` +
        `golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev): ${built.error?.message ?? ''}${built.stderr}`,
    );
  }
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Rendered {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[]): Rendered {
  const r = spawnSync(renderer, [...args, chartDir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function render(args: readonly string[] = []): Obj[] {
  const r = run(args);
  assert.equal(r.status, 0, `render ${args.join(' ')} failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) assert.deepEqual(d.errors, [], `rendered YAML does not parse: ${r.stdout}`);
  return docs.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

function valuesFile(name: string, values: unknown): string {
  const file = join(work, name);
  writeFileSync(file, stringify(values));
  return file;
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v);
  return out;
}

/** The Kubernetes API schema check: throws with the offending path when a field has the wrong shape. */
function validateWorkload(obj: Obj): void {
  if (obj['kind'] === 'Deployment') new Deployment(obj).validate();
  else if (obj['kind'] === 'DaemonSet') new DaemonSet(obj).validate();
  else assert.fail(`unexpected kind ${String(obj['kind'])} rendered`);
}

function envOf(container: Obj): Map<string, Obj> {
  return new Map((container['env'] as Obj[]).map((e) => [e['name'] as string, e]));
}

function goSeconds(duration: string): number {
  const m = /^(\d+)s$/.exec(duration);
  assert.ok(m, `expected whole seconds, got ${duration}`);
  return Number(m[1]);
}

/** What every rendering must hold, whatever the values. */
function checkEssentials(workload: Obj): { init: Obj; main: Obj; pod: Obj } {
  validateWorkload(workload);
  const pod = workload['spec']['template'];
  const spec = pod['spec'];
  assert.equal(spec['initContainers'].length, 1);
  assert.equal(spec['containers'].length, 1);
  const init = spec['initContainers'][0] as Obj;
  const main = spec['containers'][0] as Obj;

  // The selector must pick the template's own pods.
  for (const [k, v] of Object.entries(workload['spec']['selector']['matchLabels'] as Obj)) {
    assert.equal(pod['metadata']['labels'][k], v, `selector label ${k}`);
  }

  // Calico's command names, which the image provides.
  assert.deepEqual(init['command'], ['/init-gateway.sh']);
  assert.deepEqual(main['command'], ['/start-gateway.sh']);

  // Init is privileged (sysctls); the daemon gets NET_ADMIN and NET_RAW only.
  assert.equal(init['securityContext']['privileged'], true);
  assert.notEqual(main['securityContext']['privileged'], true);
  assert.deepEqual([...main['securityContext']['capabilities']['add']].sort(), ['NET_ADMIN', 'NET_RAW']);
  assert.deepEqual(main['securityContext']['capabilities']['drop'], ['ALL']);

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
  const ports = main['ports'] as Obj[];
  const named = ports.find((p) => p['name'] === 'health');
  assert.ok(named, 'a container port named health');
  assert.equal(named['containerPort'], healthPort);
  for (const [probe, path] of [['readinessProbe', READINESS_PATH], ['livenessProbe', LIVENESS_PATH]] as const) {
    const get = main[probe]['httpGet'] as Obj;
    assert.equal(get['path'], path, `${probe} path`);
    const port: unknown = get['port'] === 'health' ? named['containerPort'] : get['port'];
    assert.equal(port, healthPort, `${probe} port`);
  }

  // Felix's socket: the CSI volume, mounted where DAEMON_SOCKET_PATH expects it.
  const volume = (spec['volumes'] as Obj[]).find((v) => v['name'] === 'policysync');
  assert.deepEqual(volume?.['csi'], { driver: 'csi.tigera.io' });
  const mount = (main['volumeMounts'] as Obj[]).find((m) => m['name'] === 'policysync');
  assert.ok(mount, 'policysync mounted in the main container');
  assert.equal(env.get('DAEMON_SOCKET_PATH')?.['value'], `${String(mount['mountPath']).replace(/\/$/, '')}/nodeagent/socket`);

  // The daemon guards vxlan0 on the interface init built it on.
  const underlay = envOf(init).get('EGRESS_INTERFACE')?.['value'];
  assert.ok(underlay, 'init is given EGRESS_INTERFACE');
  assert.equal(env.get('EGRESS_INTERFACE')?.['value'], underlay, 'init and the daemon name the same underlay interface');

  // The kubelet must not kill the gateway before the drain is over.
  const drain = goSeconds(String(env.get('DRAIN_DELAY')?.['value']));
  assert.ok(spec['terminationGracePeriodSeconds'] > drain, `grace ${spec['terminationGracePeriodSeconds']} must exceed drain ${drain}`);

  return { init, main, pod };
}

describe('values.schema.json', () => {
  test('values.yaml satisfies it', () => {
    assert.deepEqual(validateJsonSchema(schema, defaultValues), []);
  });

  /** values.yaml with one setting replaced: [what, dotted path, value, the error expected]. */
  const bad: [string, string, unknown, RegExp][] = [
    ['an unknown kind', 'kind', 'StatefulSet', /\$\.kind: "StatefulSet" is not one of/],
    ['a VNI of 0', 'vxlan.vni', 0, /\$\.vxlan\.vni: 0 is below 1/],
    ['a port above 65535', 'vxlan.port', 70000, /\$\.vxlan\.port: 70000 is above 65535/],
    ['a duration that Go cannot parse', 'probes.icmp.interval', '5 seconds', /\$\.probes\.icmp\.interval: "5 seconds" does not match/],
    ['a misspelt key', 'replicas', 2, /\$: unknown key replicas/],
    ['health port 0 (the probes need the server)', 'health.port', 0, /\$\.health\.port: 0 is below 1/],
    ['a drain given as a string', 'drainDelaySeconds', '10s', /\$\.drainDelaySeconds: is string, must be integer/],
    ['no gateway labels', 'gatewayLabels', {}, /\$\.gatewayLabels: needs at least 1 entries/],
    ['an HTTP probe that is not a URL', 'probes.http.urls', ['example'], /\$\.probes\.http\.urls\[0\]: "example" does not match/],
    ['a grace period of 0', 'terminationGracePeriodSeconds', 0, /\$\.terminationGracePeriodSeconds: 0 is below 1/],
    ['an interface name longer than 15', 'interface', 'a234567890123456', /\$\.interface: "a234567890123456" does not match/],
    ['an interface name with a space', 'interface', 'eth0 -j ACCEPT', /\$\.interface: "eth0 -j ACCEPT" does not match/],
    ['an interface named ..', 'interface', '..', /\$\.interface: "\.\." does not match/],
  ];
  for (const [name, path, value, expected] of bad) {
    test(`refuses ${name}`, () => {
      const values = structuredClone(defaultValues);
      const keys = path.split('.');
      let node: Record<string, unknown> = values;
      for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
      node[keys[keys.length - 1] as string] = value;
      const errors = validateJsonSchema(schema, values);
      assert.ok(errors.some((e) => expected.test(e)), `errors were: ${errors.join('; ')}`);
    });
  }
});

describe('chart rendering', () => {
  test('defaults: one Deployment that holds everything the gateway needs', () => {
    const objs = render();
    assert.deepEqual(objs.map((o) => o['kind']), ['Deployment']);
    const workload = objs[0] as Obj;
    const { init, main, pod } = checkEssentials(workload);
    assert.equal(workload['spec']['replicas'], 1);
    assert.equal(pod['metadata']['labels']['egress-code'], 'red');
    assert.equal(pod['metadata']['annotations'], undefined, 'no IP pool annotation without ipPools');
    assert.equal(init['image'], 'egress-gateway:0.1.0');
    assert.equal(main['imagePullPolicy'], 'IfNotPresent');

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
    assert.equal(workload['spec']['template']['spec']['terminationGracePeriodSeconds'], 20);
    assert.deepEqual(workload['spec']['template']['spec']['nodeSelector'], { 'kubernetes.io/os': 'linux' });
    const initEnv = envOf(init);
    assert.equal(initEnv.get('EGRESS_VXLAN_VNI')?.['value'], '4097');
    assert.equal(initEnv.get('EGRESS_VXLAN_PORT')?.['value'], '4790');
    assert.equal(initEnv.get('DATAPLANE')?.['value'], 'iptables');
    assert.equal(initEnv.has('IPTABLES_BACKEND'), false, 'backend detected when not set');
  });

  test('kind DaemonSet: a DaemonSet without replicas', () => {
    const objs = render(['--set', 'kind=DaemonSet', '--set', 'replicaCount=3']);
    assert.deepEqual(objs.map((o) => o['kind']), ['DaemonSet']);
    const workload = objs[0] as Obj;
    checkEssentials(workload);
    assert.equal('replicas' in workload['spec'], false);
  });

  test('overridden values reach the manifest', () => {
    const override = {
      replicaCount: 2,
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
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
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
    assert.deepEqual(validateJsonSchema(schema, deepMerge(defaultValues, override)), []);
    const objs = render(['--values', valuesFile('override.yaml', override), '--name', 'egw', '--namespace', 'egress']);
    const workload = objs[0] as Obj;
    const { init, main, pod } = checkEssentials(workload);
    const spec = pod['spec'];
    assert.equal(workload['metadata']['name'], 'egw-egress-gateway');
    assert.equal(workload['metadata']['namespace'], 'egress');
    assert.equal(workload['spec']['replicas'], 2);
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

  test('auditLog gives AUDIT_LOG to both containers (init turns on conntrack accounting), and nothing when off', () => {
    const on = checkEssentials(render(['--set', 'auditLog=stdout'])[0] as Obj);
    assert.equal(envOf(on.init).get('AUDIT_LOG')?.['value'], 'stdout');
    assert.equal(envOf(on.main).get('AUDIT_LOG')?.['value'], 'stdout');
    const off = checkEssentials(render()[0] as Obj);
    assert.equal(envOf(off.init).has('AUDIT_LOG'), false);
    assert.equal(envOf(off.main).has('AUDIT_LOG'), false);
  });

  test('an explicit grace period longer than the drain is kept', () => {
    const workload = render(['--set', 'drainDelaySeconds=15', '--set', 'terminationGracePeriodSeconds=16'])[0] as Obj;
    checkEssentials(workload);
    assert.equal(workload['spec']['template']['spec']['terminationGracePeriodSeconds'], 16);
  });

  for (const [grace, drain] of [[10, 10], [5, 10], [0, 0]] as const) {
    test(`refuses a grace period of ${grace}s with a drain of ${drain}s`, () => {
      const r = run(['--set', `drainDelaySeconds=${drain}`, '--set', `terminationGracePeriodSeconds=${grace}`]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`terminationGracePeriodSeconds \\(${grace}\\) must be longer than drainDelaySeconds \\(${drain}\\)`));
      assert.equal(r.stdout, '');
    });
  }

  test('refuses a kind other than Deployment or DaemonSet', () => {
    const r = run(['--set', 'kind=StatefulSet']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /kind must be Deployment or DaemonSet, not "StatefulSet"/);
  });

  test('NOTES.txt renders and names the selector clients use', () => {
    const r = run(['--notes', '--namespace', 'egress']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /egress\.projectcalico\.org\/selector="egress-code == 'red'"/);
    assert.match(r.stdout, /namespaceSelector="projectcalico\.org\/name == 'egress'"/);
    assert.match(r.stdout, /No ipPools set/);
  });
});
