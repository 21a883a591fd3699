/**
 * The Go Felix stand-in (test/felix-go/main.go, grpc-go as Felix uses it): built from our .proto with
 * Debian's protoc, protoc-gen-go and protoc-gen-go-grpc, against Debian's packaged grpc-go and
 * google.golang.org/protobuf in GOPATH mode (/usr/share/gocode; no module downloads), and cached under
 * .build/felix-go/ by the hash of its inputs. scripts/setup.sh installs the packages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../src/package-root';
import type { RouteUpdateWire, VtepUpdateWire } from '../../src/policysync/proto';

const DEBIAN_GOCODE = '/usr/share/gocode';
const PACKAGES = 'golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev';

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`building the Go Felix: ${cmd} ${args.join(' ')} failed (Debian packages: ${PACKAGES}): ${r.error?.message ?? ''}${r.stderr}`);
  }
}

/** The path of the built binary; builds it when its inputs changed (about 30 s cold, instant cached). */
export function buildFelixGo(): string {
  const root = packageRoot();
  const proto = join(root, 'proto', 'felixbackend.proto');
  const main = join(root, 'test', 'felix-go', 'main.go');
  const hash = createHash('sha256').update(readFileSync(proto)).update(readFileSync(main)).digest('hex').slice(0, 16);
  const dir = join(root, '.build', 'felix-go');
  const binary = join(dir, `felix-go-${hash}`);
  if (existsSync(binary)) return binary;
  const gopath = join(dir, 'gopath');
  rmSync(gopath, { recursive: true, force: true });
  const pkg = join(gopath, 'src', 'egwfelix', 'felixpb');
  const cmd = join(gopath, 'src', 'egwfelix', 'felix-go');
  mkdirSync(pkg, { recursive: true });
  mkdirSync(cmd, { recursive: true });
  copyFileSync(main, join(cmd, 'main.go'));
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: `${DEBIAN_GOCODE}:${gopath}`, GOFLAGS: '', GOCACHE: join(dir, 'cache') };
  const m = 'Mfelixbackend.proto=egwfelix/felixpb';
  run(
    'protoc',
    ['-I', join(root, 'proto'), `--go_out=${pkg}`, '--go_opt=paths=source_relative', `--go_opt=${m}`, `--go-grpc_out=${pkg}`, '--go-grpc_opt=paths=source_relative', `--go-grpc_opt=${m}`, 'felixbackend.proto'],
    env,
    root,
  );
  const tmp = `${binary}.tmp`;
  run('go', ['build', '-o', tmp, 'egwfelix/felix-go'], env, root);
  renameSync(tmp, binary);
  return binary;
}

export interface FelixGoScript {
  readonly routes?: readonly RouteUpdateWire[];
  readonly vteps?: readonly VtepUpdateWire[];
}

export interface FelixGoEvent {
  readonly event: string;
  readonly [k: string]: unknown;
}

/** A running Go Felix: its events as they come, and the signals that script it. */
export class FelixGo {
  readonly events: FelixGoEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private exited = false;

  private constructor(
    readonly child: ChildProcess,
    readonly scriptPath: string,
  ) {
    if (!child.stdout) throw new Error('felix-go has no stdout');
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as FelixGoEvent);
      } catch {
        this.events.push({ event: 'text', line });
      }
      this.poke();
    });
    child.on('exit', () => {
      this.exited = true;
      this.poke();
    });
  }

  /** Starts the binary on `socketPath` serving `script` (written to `scriptPath`); resolves once it listens. */
  static async start(socketPath: string, scriptPath: string, script: FelixGoScript, extraArgs: readonly string[] = []): Promise<FelixGo> {
    writeFileSync(scriptPath, JSON.stringify(script));
    const child = spawn(buildFelixGo(), ['-socket', socketPath, '-script', scriptPath, ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    const felix = new FelixGo(child, scriptPath);
    await felix.until('listening', (e) => e.event === 'listening');
    return felix;
  }

  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }

  /** Waits for an event matching `match` (at once if one came already); fails if the process exits first. */
  until(what: string, match: (e: FelixGoEvent) => boolean, timeoutMs = 30_000): Promise<FelixGoEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`felix-go: waited ${timeoutMs} ms for ${what}; events: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const check = (): void => {
        const found = this.events.find(match);
        if (found || this.exited) {
          clearTimeout(timer);
          this.waiters.delete(check);
          if (found) resolve(found);
          else reject(new Error(`felix-go exited while waiting for ${what}; events: ${JSON.stringify(this.events)}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Replaces the script and has the server send open streams the differences (SIGHUP). */
  async update(script: FelixGoScript): Promise<void> {
    const before = this.count('reloaded');
    writeFileSync(this.scriptPath, JSON.stringify(script));
    this.child.kill('SIGHUP');
    await this.until('reloaded', () => this.count('reloaded') > before);
  }

  /** Sends every open stream one message above 4 MiB (SIGUSR1). */
  async sendOversize(): Promise<void> {
    this.child.kill('SIGUSR1');
    await this.until('oversize_sent', (e) => e.event === 'oversize_sent');
  }

  /** Stops the process: SIGTERM (grpc-go Stop: connections close, no status) or SIGKILL. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    await gone;
  }

  private poke(): void {
    for (const w of [...this.waiters]) w();
  }
}
