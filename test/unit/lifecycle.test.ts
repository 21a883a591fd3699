import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle } from '../../src/lifecycle';
import { silentLogger } from '../../src/observability/logger';

function recorder() {
  const events: string[] = [];
  const component = (name: string, failStart = false) => ({
    name,
    start: (signal: AbortSignal) => {
      if (failStart) throw new Error(`${name} cannot start`);
      events.push(`start ${name}${signal.aborted ? ' (aborted)' : ''}`);
    },
    stop: () => {
      events.push(`stop ${name}`);
    },
  });
  return { events, component };
}

test('components start in order and stop in reverse, once', async () => {
  const { events, component } = recorder();
  const lc = new Lifecycle(silentLogger()).add(component('a')).add(component('b')).add(component('c'));
  await lc.start();
  await Promise.all([lc.stop(), lc.stop()]);
  assert.deepEqual(events, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  assert.equal(lc.signal.aborted, true);
});

test('a failed start stops what already started and rethrows', async () => {
  const { events, component } = recorder();
  const lc = new Lifecycle(silentLogger()).add(component('a')).add(component('b', true)).add(component('c'));
  await assert.rejects(lc.start(), /b cannot start/);
  assert.deepEqual(events, ['start a', 'stop a']);
});

test('an error while stopping does not keep the others from stopping', async () => {
  const { events, component } = recorder();
  const lc = new Lifecycle(silentLogger())
    .add(component('a'))
    .add({ name: 'bad', stop: () => Promise.reject(new Error('boom')) })
    .add(component('c'));
  await lc.start();
  await lc.stop();
  assert.deepEqual(events, ['start a', 'start c', 'stop c', 'stop a']);
});

/** A component whose start waits until the test lets it go. */
function held(name: string, events: string[], opts: { failOnAbort?: boolean } = {}) {
  let release = (): void => undefined;
  let entered = (): void => undefined;
  const reached = new Promise<void>((resolve) => (entered = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const component = {
    name,
    start: async (signal: AbortSignal) => {
      events.push(`start ${name} begins`);
      entered();
      await gate;
      if (opts.failOnAbort && signal.aborted) throw new Error(`${name} aborted`);
      events.push(`start ${name}${signal.aborted ? ' (aborted)' : ''}`);
    },
    stop: () => {
      events.push(`stop ${name}`);
    },
  };
  return { component, reached, release };
}

test('stop during start: nothing more starts; the component being started finishes and is stopped with the rest', async () => {
  const { events, component } = recorder();
  const b = held('b', events);
  const lc = new Lifecycle(silentLogger()).add(component('a')).add(b.component).add(component('c'));
  const starting = lc.start();
  await b.reached;
  const stopping = lc.stop();
  events.push('stop asked');
  b.release();
  assert.equal(await starting, 'stopped');
  await stopping;
  assert.deepEqual(events, ['start a', 'start b begins', 'stop asked', 'start b (aborted)', 'stop b', 'stop a']);
  assert.equal(lc.signal.aborted, true);
});

test('start() answers only once what had started is stopped again', async () => {
  const { events, component } = recorder();
  const b = held('b', events);
  const lc = new Lifecycle(silentLogger()).add(component('a')).add(b.component);
  const starting = lc.start().then((outcome) => events.push(`start() -> ${outcome}`));
  await b.reached;
  void lc.stop();
  b.release();
  await starting;
  assert.deepEqual(events.slice(-3), ['stop b', 'stop a', 'start() -> stopped']);
});

test('stop before start: start() starts nothing', async () => {
  const { events, component } = recorder();
  const lc = new Lifecycle(silentLogger()).add(component('a')).add(component('b'));
  await lc.stop();
  assert.equal(await lc.start(), 'stopped');
  assert.deepEqual(events, []);
});

test('a start that fails because stop aborted it is not a start failure: start() answers stopped', async () => {
  const { events, component } = recorder();
  const b = held('b', events, { failOnAbort: true });
  const lc = new Lifecycle(silentLogger()).add(component('a')).add(b.component).add(component('c'));
  const starting = lc.start();
  await b.reached;
  void lc.stop();
  b.release();
  assert.equal(await starting, 'stopped');
  assert.deepEqual(events, ['start a', 'start b begins', 'stop a']);
});

test('a full start answers started', async () => {
  const { component } = recorder();
  assert.equal(await new Lifecycle(silentLogger()).add(component('a')).start(), 'started');
});
