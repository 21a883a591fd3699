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
