import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCodes, exitStatusFor, isGatewayError } from '../../src/errors';
import { fetchStatus, parseStatusDocument } from '../../src/status/client';
import { runStatusCommand } from '../../src/status/command';
import { parseStatusSocket } from '../../src/status/config';
import { buildStatus, type StatusDocument } from '../../src/status/model';
import { renderStatusTable } from '../../src/status/render';
import { buildStatusApp, startStatusServer } from '../../src/status/server';
import { NOW, statusInputs } from './status-fixtures';

const work = mkdtempSync(join(tmpdir(), 'egw-status-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(work, `s${++n}`, 'status.sock');

const ready = buildStatus(statusInputs());
const notReady = buildStatus(statusInputs({ readinessInputs: { drainingSince: NOW - 1 }, phase: 'draining' }));

async function listen(server: Server, path: string): Promise<void> {
  server.listen(path);
  await once(server, 'listening');
}

/** A socket file whose listener was killed: what a SIGKILLed daemon leaves behind. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(child.stdout, 'data');
  child.kill('SIGKILL');
  await once(child, 'close');
  assert.ok(lstatSync(path).isSocket(), 'the killed listener left its socket file');
}

async function unreachable(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isGatewayError(err, ErrorCodes.DAEMON_UNREACHABLE), String(err));
    assert.match(err.message, pattern);
    assert.equal(exitStatusFor(err), 3);
    return true;
  });
}

describe('status app', () => {
  it('GET /status answers the document; HEAD too; other methods 405, other paths 404', async () => {
    const app = buildStatusApp({ status: () => ready });
    const res = await app.inject({ method: 'GET', url: '/status' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(res.body), ready);
    assert.equal((await app.inject({ method: 'HEAD', url: '/status' })).statusCode, 200);
    const post = await app.inject({ method: 'POST', url: '/status', payload: '{}' });
    assert.equal(post.statusCode, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
    assert.equal((await app.inject({ method: 'GET', url: '/readiness' })).statusCode, 404);
    await app.close();
  });

  it('a status that cannot be built is a 500 that says why (local callers only)', async () => {
    const app = buildStatusApp({
      status: () => {
        throw new Error('reconciler state unreadable');
      },
    });
    const res = await app.inject({ method: 'GET', url: '/status' });
    assert.equal(res.statusCode, 500);
    assert.match(res.body, /reconciler state unreadable/);
    await app.close();
  });
});

describe('status socket', () => {
  it('creates its folder 0700 and the socket 0600, answers over it, and removes both on close', async () => {
    const path = freshPath();
    const server = await startStatusServer(path, { status: () => ready });
    try {
      assert.equal(lstatSync(path).mode & 0o777, 0o600);
      assert.equal(lstatSync(join(path, '..')).mode & 0o777, 0o700);
      assert.deepEqual(await fetchStatus(path), ready);
    } finally {
      await server.close();
    }
    assert.equal(existsSync(path), false, 'socket removed');
    assert.equal(existsSync(join(path, '..')), false, 'the folder it made is removed');
  });

  it('leaves a folder it did not make', async () => {
    const path = join(work, 'kept.sock');
    const server = await startStatusServer(path, { status: () => ready });
    await server.close();
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(work), true);
  });

  it('replaces a stale socket left by a killed daemon', async () => {
    const path = freshPath();
    const server0 = await startStatusServer(path, { status: () => ready });
    await server0.close(); // makes the folder go; make it again, as a crashed daemon would have left it
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(path, '..'), { recursive: true });
    await staleSocket(path);
    await unreachable(fetchStatus(path), /connection refused: the socket is left over from a daemon that is no longer running/);
    const server = await startStatusServer(path, { status: () => notReady });
    try {
      assert.equal((await fetchStatus(path)).ready, false);
      assert.equal(lstatSync(path).mode & 0o777, 0o600);
    } finally {
      await server.close();
    }
  });

  it('does not take over a socket another daemon answers on, and leaves it working', async () => {
    const path = freshPath();
    const first = await startStatusServer(path, { status: () => ready });
    try {
      const second = startStatusServer(path, { status: () => notReady });
      // Should it start after all, close it, so a failing run ends instead of hanging on its socket.
      second.then((s) => s.close(), () => undefined);
      await assert.rejects(second, (err: unknown) => {
        assert.ok(isGatewayError(err, ErrorCodes.STATUS_SERVER_FAILED));
        assert.match(err.message, new RegExp(`serving status on ${path}: another process answers on this socket`));
        return true;
      });
      assert.equal((await fetchStatus(path)).ready, true, 'the first daemon still answers');
    } finally {
      await first.close();
    }
  });

  it('refuses to remove a file that is not a socket', async () => {
    const path = join(work, 'not-a-socket');
    writeFileSync(path, 'precious');
    await assert.rejects(startStatusServer(path, { status: () => ready }), /the path exists and is not a socket; not removing it/);
    assert.equal(readFileSync(path, 'utf8'), 'precious');
  });

  it('a folder that cannot be made is a coded error naming it', async () => {
    const file = join(work, 'plain-file');
    writeFileSync(file, '');
    await assert.rejects(startStatusServer(join(file, 'sub', 'status.sock'), { status: () => ready }), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.STATUS_SERVER_FAILED));
      assert.match(err.message, /cannot create the folder .*plain-file\/sub/);
      return true;
    });
  });
});

describe('status client', () => {
  it('no socket: says so, and asks whether the daemon runs with the same STATUS_SOCKET', async () => {
    const path = freshPath();
    await unreachable(fetchStatus(path), new RegExp(`cannot get the status from ${path}: no such socket: is \`egress-gateway start\` running in this container, with the same STATUS_SOCKET\\?`));
  });

  it('a daemon that accepts but does not answer in time', async () => {
    const path = freshPath();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(path, '..'), { recursive: true });
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    await listen(silent, path);
    try {
      await unreachable(fetchStatus(path, 200), /no answer within 200 ms/);
    } finally {
      held.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('an HTTP error or something that is not a status document', async () => {
    const path = freshPath();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(path, '..'), { recursive: true });
    let answer: [number, string] = [500, '{"error":"building the status failed: boom"}'];
    const foreign = createHttpServer((_req, res) => res.writeHead(answer[0]).end(answer[1]));
    foreign.listen(path);
    await once(foreign, 'listening');
    try {
      await unreachable(fetchStatus(path), /the daemon answered HTTP 500: \{"error":"building the status failed: boom"\}/);
      answer = [200, '{"hello":"world"}'];
      await unreachable(fetchStatus(path), /the answer is not a status document: format undefined/);
      answer = [200, 'not json'];
      await unreachable(fetchStatus(path), /the answer is not a status document/);
    } finally {
      foreign.close();
    }
  });

  it('parseStatusDocument wants the format and the readiness fields', () => {
    assert.deepEqual(parseStatusDocument(JSON.stringify(ready)), ready);
    assert.throws(() => parseStatusDocument('null'), /not a JSON object/);
    assert.throws(() => parseStatusDocument(JSON.stringify({ ...ready, format: 2 })), /format 2, this command reads format 1/);
    assert.throws(() => parseStatusDocument(JSON.stringify({ ...ready, ready: 'yes' })), /no readiness/);
  });
});

describe('status command', () => {
  async function serve(doc: StatusDocument): Promise<{ path: string; close(): Promise<void> }> {
    const path = freshPath();
    const server = await startStatusServer(path, { status: () => doc });
    return { path, close: () => server.close() };
  }

  it('exit 0 and the table when ready; --json prints the document', async () => {
    const s = await serve(ready);
    try {
      let out = '';
      assert.equal(await runStatusCommand({ socket: s.path }, {}, (t) => (out += t)), 0);
      assert.equal(out, renderStatusTable(ready));
      out = '';
      assert.equal(await runStatusCommand({ json: true }, { STATUS_SOCKET: s.path }, (t) => (out += t)), 0);
      assert.deepEqual(JSON.parse(out), ready);
    } finally {
      await s.close();
    }
  });

  it('exit 1 when the daemon answers but is not ready; the first lines say why', async () => {
    const s = await serve(notReady);
    try {
      let out = '';
      assert.equal(await runStatusCommand({ socket: s.path }, {}, (t) => (out += t)), 1);
      assert.match(out, /^egress-gateway 0\.1\.0 {2}pid 4242 {2}draining {2}up 1h02m\nREADY: NO \(failing: drain\)\n/);
    } finally {
      await s.close();
    }
  });

  it('the flag wins over STATUS_SOCKET; a relative path is a config error', async () => {
    assert.equal(parseStatusSocket({ STATUS_SOCKET: '/a/b.sock' }, { name: '--socket', value: '/c/d.sock' }), '/c/d.sock');
    assert.equal(parseStatusSocket({}, { name: '--socket', value: undefined }), '/tmp/egress-gateway/status.sock');
    assert.throws(() => parseStatusSocket({ STATUS_SOCKET: 'status.sock' }, { name: '--socket', value: undefined }), /STATUS_SOCKET="status.sock": must be an absolute path/);
    assert.throws(() => parseStatusSocket({}, { name: '--socket', value: `/${'x'.repeat(120)}` }), /longer than the 107 bytes/);
    await assert.rejects(runStatusCommand({ socket: 'rel.sock' }, {}, () => undefined), (err: unknown) => isGatewayError(err, ErrorCodes.CONFIG_INVALID) && exitStatusFor(err) === 2);
  });
});
