import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createMetrics, METRIC_PREFIX } from '../../src/observability/metrics';

test('metrics: every prom-client default metric is exported under our prefix, except the per-GC histogram', async () => {
  const reference = new Registry();
  collectDefaultMetrics({ register: reference, prefix: METRIC_PREFIX });
  const defaults = reference.getMetricsAsArray().map((m) => m.name);
  assert.ok(defaults.includes(`${METRIC_PREFIX}nodejs_gc_duration_seconds`), 'the reference has the GC histogram');
  assert.ok(defaults.length > 10, `prom-client gave ${defaults.length} default metrics`);

  const ours = new Set(createMetrics().registry.getMetricsAsArray().map((m) => m.name));
  const missing = defaults.filter((name) => !ours.has(name));
  assert.deepEqual(missing, [`${METRIC_PREFIX}nodejs_gc_duration_seconds`]);

  // And they render: values are read at scrape time.
  const text = await createMetrics().registry.metrics();
  assert.match(text, /^egress_gateway_process_cpu_user_seconds_total \d/m);
  assert.match(text, /^egress_gateway_nodejs_heap_space_size_used_bytes\{space="new"\} \d/m);
  assert.doesNotMatch(text, /gc_duration/);
});

test('metrics: processMetrics false registers only the gateway metrics', () => {
  const names = createMetrics({ processMetrics: false }).registry.getMetricsAsArray().map((m) => m.name);
  assert.ok(names.length > 0);
  assert.deepEqual(names.filter((n) => n.includes('process_') || n.includes('nodejs_')), []);
});
