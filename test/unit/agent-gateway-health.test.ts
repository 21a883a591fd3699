import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import pino from 'pino';
import { GatewayEcho, type EchoPort } from '../../src/agent/gateway-health/echo';
import { GatewayHealthMonitor, httpReadinessProbe, signalPolicyOf, type HealthChange, type SignalPolicy } from '../../src/agent/gateway-health/monitor';
import {
  FELIX_HEALTH_POLICY,
  gatewayVerdict,
  newEchoRecord,
  newRecord,
  newStreamRecord,
  readinessUrl,
  recordEcho,
  recordKube,
  recordPoll,
  recordStreamEnd,
  recordStreamState,
  type EchoRecord,
  type GatewaySignals,
  type ProbeRecord,
  type StreamRecord,
} from '../../src/agent/gateway-health/state';
import { DEFAULT_STREAM_POLICY, GatewayStream, parseStateLine, type StreamHandlers, type StreamTransport } from '../../src/agent/gateway-health/stream';
import { FakeClock } from '../../src/model/clock';
import type { IpAddress } from '../../src/model/ip';
import { gateway } from './agent-fixtures';

const quiet = pino({ level: 'silent' });
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('gateway health: the poll record', () => {
  const policy = FELIX_HEALTH_POLICY;
  const steps = (oks: boolean[]): string[] => {
    let r = newRecord('default/gw', 'http://100.64.2.7:8080/readiness', 0);
    return oks.map((ok, i) => {
      r = recordPoll(r, ok, (i + 1) * 10_000, policy, ok ? undefined : 'HTTP 503');
      return `${r.state}/${r.failures}`;
    });
  };
  it('Felix: up after a success, down after the third failure in a row, back after one success', () => {
    assert.deepEqual(steps([true, false, false, false, false, true]), ['up/0', 'up/1', 'up/2', 'down/3', 'down/4', 'up/0']);
  });
  it('a failure between successes resets the count', () => {
    assert.deepEqual(steps([true, false, false, true, false, false]), ['up/0', 'up/1', 'up/2', 'up/0', 'up/1', 'up/2']);
  });
  it('never answered: pending until the threshold, then down', () => {
    assert.deepEqual(steps([false, false, false]), ['pending/1', 'pending/2', 'down/3']);
  });
  it('no health port: unprobed, and no URL', () => {
    const g = gateway('default/gw', '100.64.2.7', { healthPort: undefined as unknown as number });
    const { healthPort: _h, ...noPort } = g;
    assert.equal(readinessUrl(noPort), undefined);
    assert.equal(newRecord('k', undefined, 0).state, 'unprobed');
  });
  it('URL: the IPv4 address, the health port, /readiness (or the stream path)', () => {
    assert.equal(readinessUrl(gateway('default/gw', '100.64.2.7', { ips: ['2001:db8::7', '100.64.2.7'] })), 'http://100.64.2.7:8080/readiness');
    assert.equal(readinessUrl(gateway('default/gw', '2001:db8::7')), 'http://[2001:db8::7]:8080/readiness');
    assert.equal(readinessUrl(gateway('default/gw', '100.64.2.7'), '/readiness/stream'), 'http://100.64.2.7:8080/readiness/stream');
  });
});

describe('gateway health: the stream and echo records', () => {
  it('stream: live with what the gateway says; since moves only on a change; an end is lost, a 404 unsupported', () => {
    let r: StreamRecord = newStreamRecord(0);
    assert.equal(r.state, 'pending');
    r = recordStreamState(r, { ready: true, draining: false, failing: [] }, 10, true);
    assert.deepEqual([r.state, r.ready, r.since, r.connects], ['live', true, 10, 1]);
    r = recordStreamState(r, { ready: true, draining: false, failing: [] }, 20, false);
    assert.equal(r.since, 10, 'the same state again: since stays');
    r = recordStreamState(r, { ready: false, draining: true, failing: ['drain'] }, 30, false);
    assert.deepEqual([r.state, r.draining, r.since], ['live', true, 30]);
    r = recordStreamEnd(r, 'lost', 'ECONNRESET', 40);
    assert.deepEqual([r.state, r.since, r.lastError, r.ready], ['lost', 40, 'ECONNRESET', undefined]);
    assert.equal(recordStreamEnd(newStreamRecord(0), 'lost', 'ECONNREFUSED', 5).state, 'lost', 'a gateway never reached is lost too');
    assert.equal(recordStreamEnd(newStreamRecord(0), 'unsupported', 'HTTP 404', 5).state, 'unsupported');
    assert.equal(newStreamRecord(0, true).state, 'off');
  });

  it('echo: up on an answer; down after the misses only when it had answered; unavailable when it never did', () => {
    const run = (answers: boolean[]): string[] => {
      let r: EchoRecord = newEchoRecord(0);
      return answers.map((ok, i) => {
        r = recordEcho(r, ok ? { rttMs: 0.3 } : { error: 'no answer' }, i * 100, 3);
        return `${r.state}/${r.misses}`;
      });
    };
    assert.deepEqual(run([true, false, false, false, true]), ['up/0', 'up/1', 'up/2', 'down/3', 'up/0']);
    assert.deepEqual(run([false, false, false, false]), ['pending/1', 'pending/2', 'unavailable/3', 'unavailable/4']);
    assert.deepEqual(run([false, false, false, true, false, false, false]), ['pending/1', 'pending/2', 'unavailable/3', 'up/0', 'up/1', 'up/2', 'down/3']);
  });

  it('kube: since moves only when Ready or the deletion changes', () => {
    const a = recordKube(undefined, { ready: true, deleting: false }, 5);
    assert.equal(recordKube(a, { ready: true, deleting: false }, 9), a);
    assert.deepEqual(recordKube(a, { ready: true, deleting: true }, 9), { ready: true, deleting: true, since: 9 });
  });

  it('state lines: what the gateway sends, and nothing else', () => {
    assert.deepEqual(parseStateLine('{"ready":true,"draining":false,"failing":[],"heartbeatMs":1000}'), { ready: true, draining: false, failing: [], heartbeatMs: 1000 });
    assert.deepEqual(parseStateLine('{"ready":false,"draining":true,"failing":["drain",7]}'), { ready: false, draining: true, failing: ['drain'] });
    assert.equal(parseStateLine('{"draining":true}'), undefined);
    assert.equal(parseStateLine('not json'), undefined);
    assert.equal(parseStateLine('[1]'), undefined);
  });
});

describe('gateway health: the verdict', () => {
  const GRACE = 5000;
  const live = (ready: boolean, draining = false, since = 0): StreamRecord => ({ ...newStreamRecord(0), state: 'live', ready, draining, failing: ready ? [] : draining ? ['drain'] : ['icmp'], since, connects: 1 });
  const lost = (since: number): StreamRecord => ({ ...newStreamRecord(0), state: 'lost', since, lastError: 'ECONNRESET' });
  const echoDown = (since: number): EchoRecord => ({ ...newEchoRecord(0), state: 'down', misses: 3, since });
  const poll = (state: ProbeRecord['state'], since = 0): ProbeRecord => ({ ...newRecord('k', 'u', 0), state, failures: state === 'down' ? 3 : 0, since });
  const cases: Array<[string, Parameters<typeof gateway>[2], GatewaySignals, number, { usable: boolean; keepFlows: boolean; by: string; reviewAt?: number }]> = [
    ['live and ready', {}, { stream: live(true) }, 100, { usable: true, keepFlows: true, by: 'stream' }],
    ['live and ready beats a NotReady pod (the kubelet is slower)', { ready: false }, { stream: live(true) }, 100, { usable: true, keepFlows: true, by: 'stream' }],
    ['live, draining: no new flows, its flows stay', {}, { stream: live(false, true) }, 100, { usable: false, keepFlows: true, by: 'stream' }],
    ['live, not ready: no new flows; its flows stay for the grace', {}, { stream: live(false, false, 1000) }, 2000, { usable: false, keepFlows: true, by: 'stream', reviewAt: 6000 }],
    ['live, not ready past the grace: its flows move', {}, { stream: live(false, false, 1000) }, 6000, { usable: false, keepFlows: false, by: 'stream' }],
    ['stream lost (FIN, RST, refused, no heartbeat)', {}, { stream: lost(1000) }, 1001, { usable: false, keepFlows: true, by: 'stream', reviewAt: 6000 }],
    ['stream lost, past the grace', {}, { stream: lost(1000) }, 7000, { usable: false, keepFlows: false, by: 'stream' }],
    ['terminating wins over a live ready stream', { deleting: true }, { stream: live(true) }, 100, { usable: false, keepFlows: true, by: 'kube' }],
    ['no address', { ips: [] }, { stream: live(true) }, 100, { usable: false, keepFlows: false, by: 'address' }],
    ['stream unsupported: the poll decides (up)', {}, { stream: { ...newStreamRecord(0), state: 'unsupported' }, poll: poll('up') }, 100, { usable: true, keepFlows: true, by: 'poll' }],
    ['stream unsupported: the poll decides (down)', {}, { stream: { ...newStreamRecord(0), state: 'unsupported' }, poll: poll('down', 50) }, 100, { usable: false, keepFlows: true, by: 'poll', reviewAt: 5050 }],
    ['stream unsupported, echo down', {}, { stream: { ...newStreamRecord(0), state: 'unsupported' }, echo: echoDown(80), poll: poll('up') }, 100, { usable: false, keepFlows: true, by: 'echo', reviewAt: 5080 }],
    ['stream off (Felix mode): poll up', {}, { stream: newStreamRecord(0, true), poll: poll('up') }, 100, { usable: true, keepFlows: true, by: 'poll' }],
    ['stream off: NotReady in Kubernetes', { ready: false }, { kube: { ready: false, deleting: false, since: 10 }, stream: newStreamRecord(0, true), poll: poll('up') }, 100, { usable: false, keepFlows: true, by: 'kube', reviewAt: 5010 }],
    ['stream connecting: Ready in Kubernetes counts (an agent restart must not fail clients closed)', {}, { stream: newStreamRecord(0) }, 100, { usable: true, keepFlows: true, by: 'kube' }],
    ['stream connecting, NotReady', { ready: false }, { kube: { ready: false, deleting: false, since: 0 }, stream: newStreamRecord(0) }, 100, { usable: false, keepFlows: true, by: 'kube', reviewAt: 5000 }],
  ];
  for (const [name, o, signals, now, want] of cases) {
    it(name, () => {
      const v = gatewayVerdict(gateway('default/gw', '100.64.2.7', o), signals, now, GRACE);
      assert.deepEqual({ usable: v.usable, keepFlows: v.keepFlows, by: v.decidedBy, ...(v.reviewAt !== undefined ? { reviewAt: v.reviewAt } : {}) }, want, v.reason);
    });
  }
});

/** A transport the test drives: each open() is a request the test answers. */
class FakeTransport implements StreamTransport {
  readonly requests: Array<{ url: string; h: StreamHandlers; closed: boolean }> = [];
  open(url: string, h: StreamHandlers): { close(): void } {
    const r = { url, h, closed: false };
    this.requests.push(r);
    return { close: () => (r.closed = true) };
  }
  get last(): { url: string; h: StreamHandlers; closed: boolean } {
    const r = this.requests.at(-1);
    if (!r) throw new Error('no request');
    return r;
  }
  /** Answers the last request as a gateway with a stream would. */
  accept(line = '{"ready":true,"draining":false,"failing":[],"heartbeatMs":1000}'): void {
    this.last.h.onResponse(200, 'application/x-ndjson');
    this.last.h.onData(`${line}\n`);
  }
}

describe('gateway health: the stream client', () => {
  const policy = { ...DEFAULT_STREAM_POLICY, heartbeatMs: 1000 };
  const start = (): { clock: FakeClock; t: FakeTransport; s: GatewayStream; states: string[] } => {
    const clock = new FakeClock();
    const t = new FakeTransport();
    const states: string[] = [];
    const s = new GatewayStream('http://100.64.2.7:8080/readiness/stream', {
      clock,
      transport: t,
      policy,
      onChange: (r) => states.push(r.state === 'live' ? `live ready=${String(r.ready)} draining=${String(r.draining)}` : `${r.state} (${r.lastError ?? ''})`),
    });
    s.start();
    return { clock, t, s, states };
  };

  it('asks for its heartbeat; live on the first line; changes as the gateway says', () => {
    const { t, s, states } = start();
    assert.equal(t.last.url, 'http://100.64.2.7:8080/readiness/stream?heartbeatMs=1000');
    t.accept();
    t.last.h.onData('\n');
    t.last.h.onData('{"ready":false,"draining":true,"fail');
    t.last.h.onData('ing":["drain"]}\n');
    assert.deepEqual(states, ['live ready=true draining=false', 'live ready=false draining=true']);
    assert.equal(s.state.connects, 1);
    s.stop();
  });

  it('three heartbeats missed: lost, and dialled again at once, then backing off to a second', () => {
    const { clock, t, s, states } = start();
    t.accept();
    clock.advance(2999);
    t.last.h.onData('\n'); // a heartbeat just in time
    clock.advance(2999);
    assert.equal(s.state.state, 'live');
    clock.advance(1);
    assert.equal(s.state.state, 'lost');
    assert.equal(t.requests[0]?.closed, true, 'the silent stream is closed');
    assert.match(states.at(-1) ?? '', /lost \(no heartbeat for 3000 ms\)/);
    const dials = (): number => t.requests.length;
    clock.advance(0);
    assert.equal(dials(), 2, 'dialled again at once');
    // Every dial fails: 100, 200, 400, 800, 1000, 1000 ms apart.
    const gaps: number[] = [];
    for (let i = 0; i < 6; i++) {
      t.last.h.onEnd('ECONNREFUSED');
      const before = dials();
      let waited = 0;
      while (dials() === before) {
        clock.advance(50);
        waited += 50;
      }
      gaps.push(waited);
    }
    assert.deepEqual(gaps, [100, 200, 400, 800, 1000, 1000]);
    // A stream that works again resets the backoff.
    t.accept();
    assert.equal(s.state.state, 'live');
    t.last.h.onEnd();
    clock.advance(0);
    assert.equal(dials(), 9, 'after a live stream ends, dialled again at once');
    s.stop();
  });

  it('no answer within the connect timeout: lost', () => {
    const { clock, t, s } = start();
    clock.advance(999);
    assert.equal(s.state.state, 'pending');
    clock.advance(1);
    assert.equal(s.state.state, 'lost');
    assert.equal(t.requests[0]?.closed, true);
    s.stop();
  });

  it('404 (an older gateway, Tigera): unsupported, tried again after a minute; 503 (cap reached) too', () => {
    const { clock, t, s } = start();
    t.last.h.onResponse(404, 'application/json');
    assert.equal(s.state.state, 'unsupported');
    clock.advance(59_999);
    assert.equal(t.requests.length, 1);
    clock.advance(1);
    assert.equal(t.requests.length, 2);
    t.last.h.onResponse(503, 'application/json');
    assert.match(s.state.lastError ?? '', /stream cap/);
    assert.equal(s.state.state, 'unsupported');
    s.stop();
  });

  it('restart (the echo found the path gone): lost now, a fresh stream next; late callbacks of the old one are ignored', () => {
    const { clock, t, s } = start();
    t.accept();
    const old = t.last;
    s.restart('3 echoes unanswered');
    assert.equal(s.state.state, 'lost');
    assert.equal(old.closed, true);
    old.h.onData('{"ready":true,"draining":false,"failing":[]}\n');
    assert.equal(s.state.state, 'lost', 'what the old request says no longer counts');
    clock.advance(0);
    assert.equal(t.requests.length, 2);
    s.stop();
  });

  it('garbage on the stream ends it', () => {
    const { t, s } = start();
    t.accept();
    t.last.h.onData('<html>\n');
    assert.equal(s.state.state, 'lost');
    assert.match(s.state.lastError ?? '', /not a state line/);
    s.stop();
  });
});

/** An echo port the test answers: `answer(n)` resolves the n-th echo sent, the others stay unanswered. */
class FakeEcho implements EchoPort {
  readonly sent: Array<{ target: string; resolve: () => void; signal: AbortSignal }> = [];
  failWith: Error | undefined;
  echo(target: IpAddress, signal: AbortSignal): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    return new Promise((resolve, reject) => {
      this.sent.push({ target: target.text, resolve, signal });
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }
  answerLast(): void {
    this.sent.at(-1)?.resolve();
  }
}

describe('gateway health: the echo', () => {
  it('one echo per interval; answered: up; three unanswered after that: down; an answer brings it back', async () => {
    const clock = new FakeClock();
    const port = new FakeEcho();
    const changes: string[] = [];
    const e = new GatewayEcho({ text: '100.64.2.7', family: 4 } as IpAddress, { clock, port, policy: { intervalMs: 100, misses: 3 }, onChange: (r, b) => changes.push(`${b.state}→${r.state}`) });
    e.start();
    clock.advance(2);
    port.answerLast();
    await settle();
    assert.equal(e.current.state, 'up');
    assert.equal(e.current.lastRttMs, 2);
    for (let i = 0; i < 3; i++) clock.advance(100);
    assert.equal(e.current.state, 'up', 'two misses so far: the third echo is still within its interval');
    clock.advance(100);
    assert.equal(e.current.state, 'down');
    assert.equal(port.sent.length, 5);
    assert.ok(port.sent.slice(1, 4).every((x) => x.signal.aborted), 'unanswered echoes are given up when the next is due');
    port.answerLast();
    await settle();
    assert.deepEqual(changes, ['pending→up', 'up→down', 'down→up']);
    e.stop();
  });

  it('never answered: unavailable (ICMP blocked), which takes nothing down; reset starts it over', () => {
    const clock = new FakeClock();
    const port = new FakeEcho();
    const e = new GatewayEcho({ text: '100.64.2.7', family: 4 } as IpAddress, { clock, port, policy: { intervalMs: 100, misses: 3 }, onChange: () => undefined });
    e.start();
    clock.advance(300);
    assert.equal(e.current.state, 'unavailable');
    e.reset();
    assert.equal(e.current.state, 'pending');
    e.stop();
  });

  it('a send that fails is a miss at once', async () => {
    const clock = new FakeClock();
    const port = new FakeEcho();
    port.failWith = new Error('EPERM');
    const e = new GatewayEcho({ text: '100.64.2.7', family: 4 } as IpAddress, { clock, port, policy: { intervalMs: 100, misses: 3 }, onChange: () => undefined });
    e.start();
    await settle();
    assert.deepEqual([e.current.misses, e.current.lastError], [1, 'EPERM']);
    clock.advance(100);
    await settle();
    assert.equal(e.current.misses, 2, 'not counted twice');
    e.stop();
  });
});

describe('gateway health: the monitor', () => {
  const felixMode: SignalPolicy = signalPolicyOf({ stream: false, heartbeatMs: 1000, echoIntervalMs: 0, echoMisses: 3, flowGraceMs: 5000 });

  it('Felix mode: polls at once, then every interval; three failures drop the gateway, one success takes it back', async () => {
    const clock = new FakeClock();
    const answers: boolean[] = [true, false, false, false, true];
    const urls: string[] = [];
    const changes: string[] = [];
    const monitor = new GatewayHealthMonitor({
      clock,
      logger: quiet,
      policy: FELIX_HEALTH_POLICY,
      signals: felixMode,
      probe: (url) => {
        urls.push(url);
        const ok = answers.shift() ?? true;
        return Promise.resolve({ ok, detail: ok ? 'HTTP 200' : 'HTTP 503' });
      },
      onChange: (c) => changes.push(`${c.gateway} ${c.signal} ${c.to}`),
    });
    const g = gateway('default/gw', '100.64.2.7');
    monitor.setTargets([g]);
    clock.advance(0);
    await settle();
    assert.deepEqual(changes, ['default/gw poll up']);
    assert.equal(monitor.verdict(g).usable, true);
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      await settle();
    }
    assert.deepEqual(changes, ['default/gw poll up', 'default/gw poll down']);
    assert.equal(monitor.verdict(g).usable, false);
    clock.advance(10_000);
    await settle();
    assert.deepEqual(changes, ['default/gw poll up', 'default/gw poll down', 'default/gw poll up']);
    assert.equal(urls.length, 5);
    assert.ok(urls.every((u) => u === 'http://100.64.2.7:8080/readiness'));
    monitor.setTargets([]);
    clock.advance(60_000);
    await settle();
    assert.equal(urls.length, 5, 'a gateway no longer watched is no longer polled');
    assert.equal(monitor.all().length, 0);
    monitor.stop();
  });

  it('a new address starts the gateway over', () => {
    const clock = new FakeClock();
    const monitor = new GatewayHealthMonitor({ clock, logger: quiet, policy: FELIX_HEALTH_POLICY, signals: felixMode, probe: () => new Promise(() => undefined), onChange: () => undefined });
    monitor.setTargets([gateway('default/gw', '100.64.2.7')]);
    monitor.setTargets([gateway('default/gw', '100.64.2.8')]);
    assert.equal(monitor.get('default/gw')?.url, 'http://100.64.2.8:8080/readiness');
    assert.equal(monitor.get('default/gw')?.state, 'pending');
    monitor.stop();
  });

  it('streams: no poll while a stream can be had; the echo going silent ends the stream; a fresh stream resets the echo', async () => {
    const clock = new FakeClock();
    const t = new FakeTransport();
    const echo = new FakeEcho();
    const polls: string[] = [];
    const changes: HealthChange[] = [];
    const monitor = new GatewayHealthMonitor({
      clock,
      logger: quiet,
      policy: FELIX_HEALTH_POLICY,
      signals: signalPolicyOf({ stream: true, heartbeatMs: 1000, echoIntervalMs: 100, echoMisses: 3, flowGraceMs: 5000 }),
      probe: (url) => {
        polls.push(url);
        return Promise.resolve({ ok: true, detail: 'HTTP 200' });
      },
      transport: t,
      echo,
      onChange: (c) => changes.push(c),
    });
    const g = gateway('default/gw', '100.64.2.7');
    monitor.setTargets([g]);
    t.accept();
    echo.answerLast();
    await settle();
    assert.equal(monitor.verdict(g).reason, 'ready (stream)');
    assert.deepEqual(changes.map((c) => `${c.signal} ${c.to}`), ['stream live (ready)', 'echo up']);
    // The gateway's node is cut off: the echoes go unanswered; the stream says nothing.
    const cutAt = clock.now();
    for (let i = 0; i < 4; i++) clock.advance(100);
    assert.equal(monitor.signals('default/gw')?.echo?.state, 'down');
    assert.equal(monitor.signals('default/gw')?.stream?.state, 'lost');
    assert.equal(monitor.verdict(g).usable, false);
    assert.equal(monitor.verdict(g).keepFlows, true, 'within the grace its flows stay');
    assert.ok(clock.now() - cutAt <= 400);
    // Back: the new stream is live and the echo starts over.
    clock.advance(0);
    t.accept();
    assert.equal(monitor.signals('default/gw')?.echo?.state, 'pending');
    assert.equal(monitor.verdict(g).usable, true);
    assert.equal(polls.length, 0, 'never polled: the stream answered');
    // The gateway loses its way out: it says so at once.
    t.last.h.onData('{"ready":false,"draining":false,"failing":["icmp"]}\n');
    assert.equal(monitor.verdict(g).usable, false);
    assert.match(monitor.verdict(g).reason, /not ready \(stream\): icmp/);
    monitor.stop();
  });

  it('a gateway without the stream endpoint is polled, and the stream is tried again later', async () => {
    const clock = new FakeClock();
    const t = new FakeTransport();
    const polls: string[] = [];
    const monitor = new GatewayHealthMonitor({
      clock,
      logger: quiet,
      policy: FELIX_HEALTH_POLICY,
      signals: signalPolicyOf({ stream: true, heartbeatMs: 1000, echoIntervalMs: 0, echoMisses: 3, flowGraceMs: 5000 }),
      probe: (url) => {
        polls.push(url);
        return Promise.resolve({ ok: true, detail: 'HTTP 200' });
      },
      transport: t,
      onChange: () => undefined,
    });
    const g = gateway('default/gw', '100.64.2.7');
    monitor.setTargets([g]);
    t.last.h.onResponse(404, 'application/json');
    clock.advance(0);
    await settle();
    assert.equal(polls.length, 1);
    assert.equal(monitor.verdict(g).reason, 'ready (poll)');
    clock.advance(60_000);
    await settle();
    assert.equal(t.requests.length, 2, 'the stream is tried again after a minute');
    t.accept();
    const before = polls.length;
    clock.advance(60_000);
    await settle();
    assert.equal(polls.length, before, 'no more polls once the stream is live');
    monitor.stop();
  });
});

describe('gateway health: the HTTP probe', () => {
  it('200 is ok; 503, a refused connection and a timeout are failures with a reason', async () => {
    let status = 200;
    let hang = false;
    const server = createServer((req, res) => {
      if (hang) return;
      res.writeHead(req.url === '/readiness' ? status : 404);
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readiness`;
    try {
      assert.deepEqual(await httpReadinessProbe(url, 1000), { ok: true, detail: 'HTTP 200' });
      status = 503;
      assert.deepEqual(await httpReadinessProbe(url, 1000), { ok: false, detail: 'HTTP 503' });
      hang = true;
      assert.deepEqual(await httpReadinessProbe(url, 100), { ok: false, detail: 'no answer within 100 ms' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const refused = await httpReadinessProbe(url, 1000);
    assert.equal(refused.ok, false);
    assert.equal(refused.detail, 'ECONNREFUSED');
  });
});
