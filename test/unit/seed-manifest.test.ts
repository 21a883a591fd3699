/**
 * Calico's own Deployment (test/fixtures/seed-deployment.yaml, from the seed blog post) must run our image
 * with nothing changed but the image name. This holds our image layout, commands and configuration
 * defaults to what that manifest expects.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { packageRoot } from '../../src/package-root';
import { buildProgram } from '../../src/cli/main';
import { DEFAULT_HEALTH_PORT, DEFAULT_SOCKET_PATH, READINESS_PATH, findVariable, variablesFor, type CommandName } from '../../src/config/variables';

type Obj = Record<string, any>; // parsed manifest: shapes are asserted, not typed

const root = packageRoot();
const manifest = parse(readFileSync(join(root, 'test', 'fixtures', 'seed-deployment.yaml'), 'utf8')) as Obj;
const podSpec = manifest['spec']['template']['spec'] as Obj;
const initContainer = podSpec['initContainers'][0] as Obj;
const mainContainer = podSpec['containers'][0] as Obj;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

/** The script a container runs, and the CLI command that script must hand over to. */
const scripts: [Obj, string, CommandName][] = [
  [initContainer, 'init-gateway.sh', 'init'],
  [mainContainer, 'start-gateway.sh', 'start'],
];

const work = mkdtempSync(join(tmpdir(), 'egw-seed-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A stand-in CLI that reports how it was started: its pid (to prove exec), its arguments, one variable. */
function fakeCli(path: string): void {
  writeFileSync(path, '#!/bin/sh\nprintf "pid=%s args=%s ip=%s\\n" "$$" "$*" "${EGRESS_POD_IP:-}"\n', { mode: 0o755 });
}

describe('the seed Deployment', () => {
  test('is a valid Deployment (the reconstruction restored keys in the right places)', () => {
    new Deployment(manifest).validate();
    assert.equal(manifest['kind'], 'Deployment');
    assert.equal(podSpec['initContainers'].length, 1);
    assert.equal(podSpec['containers'].length, 1);
  });

  for (const [container, script, command] of scripts) {
    test(`${container['name']} runs /${script}: in init/, executable, installed at / by the Dockerfile`, () => {
      assert.deepEqual(container['command'], [`/${script}`]);
      const file = join(root, 'init', script);
      accessSync(file, constants.X_OK);
      assert.ok((statSync(file).mode & 0o111) === 0o111, `${file} must be executable by everyone`);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^#!\/bin\/sh\n/);
      assert.match(text, /^set -eu$/m);
      assert.match(text, new RegExp(`^exec "\\$cli" ${command} "\\$@"$`, 'm'));
      assert.match(dockerfile, new RegExp(`^COPY (--chmod=755 )?init/${script.replace('.', '\\.')} /${script.replace('.', '\\.')}$`, 'm'));
    });

    test(`/${script} execs the CLI's \`${command}\` with the container's environment`, () => {
      assert.ok(buildProgram().commands.some((c) => c.name() === command), `the CLI has a ${command} command`);
      // The checkout layout: init/<script> next to bin/egress-gateway.
      const tree = join(work, `tree-${command}`);
      mkdirSync(join(tree, 'init'), { recursive: true });
      mkdirSync(join(tree, 'bin'));
      copyFileSync(join(root, 'init', script), join(tree, 'init', script));
      fakeCli(join(tree, 'bin', 'egress-gateway'));
      const r = spawnSync('/bin/sh', [join(tree, 'init', script), '--dry-run'], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin', EGRESS_POD_IP: '100.64.0.7' },
      });
      assert.equal(r.status, 0, r.stderr);
      // Same pid: the script replaced itself with the CLI (exec), so signals reach the daemon.
      assert.equal(r.stdout, `pid=${r.pid} args=${command} --dry-run ip=100.64.0.7\n`);
    });

    test(`/${script} honours EGRESS_GATEWAY_BIN and fails clearly when no CLI is found`, (t) => {
      const alone = join(work, `alone-${command}`);
      mkdirSync(alone);
      copyFileSync(join(root, 'init', script), join(alone, script));
      const override = join(work, `override-${command}`);
      fakeCli(override);
      const ok = spawnSync('/bin/sh', [join(alone, script)], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', EGRESS_GATEWAY_BIN: override } });
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(ok.stdout, `pid=${ok.pid} args=${command} ip=\n`);
      // Where a CLI is installed on this machine the script would rightly find (and run) it; the
      // not-found path is only exercised where there is none, which is the case in CI.
      const installed =
        statExists('/opt/egress-gateway/bin/egress-gateway') ||
        spawnSync('/bin/sh', ['-c', 'command -v egress-gateway'], { env: { PATH: '/usr/bin:/bin' } }).status === 0;
      if (installed) {
        t.diagnostic('an egress-gateway CLI is installed on this machine: not-found case not run');
        return;
      }
      const missing = spawnSync('/bin/sh', [join(alone, script)], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
      assert.equal(missing.status, 127);
      assert.equal(missing.stdout, '');
      assert.match(missing.stderr, new RegExp(`${basename(script)}: egress-gateway CLI not found .*set EGRESS_GATEWAY_BIN`));
    });
  }

  test('both scripts carry the same locate_cli, so the copies cannot drift apart', () => {
    // Each script is installed alone at / and must work alone (the test above runs each copied into an
    // empty folder), so they do not source a shared helper, which would need locating in turn.
    const locate = (script: string): string => {
      const text = readFileSync(join(root, 'init', script), 'utf8');
      const m = /^locate_cli\(\) \{\n[\s\S]*?\n\}\n/m.exec(text);
      assert.ok(m, `${script} defines locate_cli()`);
      return m[0].replaceAll(script, '<script>');
    };
    const [first, ...rest] = scripts.map(([, script]) => locate(script));
    assert.ok(first?.includes('EGRESS_GATEWAY_BIN'));
    for (const other of rest) assert.equal(other, first);
  });

  test('the image puts the CLI where the scripts look for it', () => {
    assert.match(dockerfile, /^COPY --from=build \/build\/bin \.\/bin$/m);
    assert.match(dockerfile, /^WORKDIR \/opt\/egress-gateway$/m);
    for (const [, script] of scripts) assert.match(readFileSync(join(root, 'init', script), 'utf8'), /\/opt\/egress-gateway\/bin\/egress-gateway/);
  });

  test('the final image stage installs no build tools', () => {
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.doesNotMatch(finalStage, /\b(g\+\+|gcc|make|python3|build-essential)\b/);
    for (const pkg of ['iptables', 'nftables', 'iproute2']) assert.match(finalStage, new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`));
  });

  for (const [container, , command] of scripts) {
    test(`every variable ${container['name']} sets is one \`${command}\` reads`, () => {
      const known = new Set(variablesFor(command).map((v) => v.name));
      const set = (container['env'] as Obj[]).map((e) => e['name'] as string);
      assert.ok(set.length > 0);
      for (const name of set) assert.ok(known.has(name), `${name} is set by the manifest but not read by \`${command}\` (src/config/variables.ts)`);
    });
  }

  test('EGRESS_POD_IP comes from the downward API in both containers', () => {
    for (const [container] of scripts) {
      const e = (container['env'] as Obj[]).find((x) => x['name'] === 'EGRESS_POD_IP');
      assert.deepEqual(e?.['valueFrom'], { fieldRef: { fieldPath: 'status.podIP' } });
    }
  });

  test('port 8080 named health and the readiness probe match our defaults', () => {
    const port = (mainContainer['ports'] as Obj[]).find((p) => p['name'] === 'health');
    assert.equal(port?.['containerPort'], DEFAULT_HEALTH_PORT);
    assert.equal(findVariable('HEALTH_PORT')?.default, String(DEFAULT_HEALTH_PORT));
    const healthEnv = (mainContainer['env'] as Obj[]).find((e) => e['name'] === 'HEALTH_PORT');
    assert.equal(Number(healthEnv?.['value']), DEFAULT_HEALTH_PORT);
    assert.deepEqual(mainContainer['readinessProbe']['httpGet'], { path: READINESS_PATH, port: DEFAULT_HEALTH_PORT });
  });

  test('the policysync volume at /var/run puts the socket at our default DAEMON_SOCKET_PATH', () => {
    const mount = (mainContainer['volumeMounts'] as Obj[]).find((m) => m['name'] === 'policysync');
    assert.ok(mount, 'the main container mounts policysync');
    const volume = (podSpec['volumes'] as Obj[]).find((v) => v['name'] === 'policysync');
    assert.ok(volume?.['csi'], 'policysync is a CSI volume');
    // Felix's CSI driver puts the per-pod socket at nodeagent/socket inside the volume.
    assert.equal(`${mount['mountPath']}/nodeagent/socket`, DEFAULT_SOCKET_PATH);
    assert.equal(findVariable('DAEMON_SOCKET_PATH')?.default, DEFAULT_SOCKET_PATH);
    assert.equal((mainContainer['env'] as Obj[]).some((e) => e['name'] === 'DAEMON_SOCKET_PATH'), false, 'the seed relies on the default');
  });

  test('the values the blog prints survive as printed', () => {
    const env = Object.fromEntries((mainContainer['env'] as Obj[]).filter((e) => 'value' in e).map((e) => [e['name'], e['value']]));
    assert.deepEqual(env, {
      ICMP_PROBE_IPS: '',
      ICMP_PROBE_INTERVAL: '5s',
      ICMP_PROBE_TIMEOUT: '15s',
      HTTP_PROBE_URLS: '',
      HTTP_PROBE_INTERVAL: '10s',
      HTTP_PROBE_TIMEOUT: '30s',
      HEALTH_PORT: '8080',
    });
    assert.equal(podSpec['terminationGracePeriodSeconds'], 0);
    assert.equal(podSpec['volumes'][0]['csi']['driver'], 'csi.www.tigera.io');
    assert.equal(manifest['spec']['template']['metadata']['annotations']['cni.projectcalico.org/ipv4pools'], '[""]');
  });
});

function statExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
