import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDurationSetting, parseGoDuration } from '../../src/config/duration';
import { isGatewayError } from '../../src/errors';

test('parseGoDuration reads what Go time.ParseDuration reads', () => {
  const table: [string, number][] = [
    ['0', 0],
    ['0s', 0],
    ['500ms', 500],
    ['5s', 5000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['1.s', 1000],
    ['2h45m', 9_900_000],
    ['100ms', 100],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['2000000ns', 2],
    ['1h1m1s1ms', 3_661_001],
    ['+3s', 3000],
    ['-1.5m', -90_000],
  ];
  for (const [text, ms] of table) {
    assert.equal(parseGoDuration(text), ms, text);
  }
});

test('parseGoDuration refuses what Go refuses', () => {
  for (const text of ['', '5', '1', 's', '.s', '5 s', ' 5s', '5sec', '1d', '5S', '1m30', '-', '+', '1e3s', '1..5s', '0x10s', '3000000h']) {
    assert.equal(parseGoDuration(text), undefined, JSON.stringify(text));
  }
});

test('formatDuration prints the shapes the config errors use', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(100), '100ms');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(86_400_000), '24h0m0s');
});

test('parseDurationSetting names the variable in its error', () => {
  const bounds = { minMs: 100, maxMs: 60_000 };
  assert.equal(parseDurationSetting({ name: 'X_INTERVAL', value: undefined }, 5000, bounds), 5000);
  assert.equal(parseDurationSetting({ name: 'X_INTERVAL', value: '100ms' }, 5000, bounds), 100);
  for (const [value, why] of [
    ['5', /not a duration/],
    ['50ms', /from 100ms to 1m0s/],
    ['-1s', /from 100ms/],
    ['2m', /to 1m0s/],
  ] as const) {
    assert.throws(
      () => parseDurationSetting({ name: 'X_INTERVAL', value }, 5000, bounds),
      (err: unknown) => isGatewayError(err, 'CONFIG_INVALID') && err.message.startsWith(`X_INTERVAL="${value}"`) && why.test(err.message),
      value,
    );
  }
});
