import assert from 'node:assert/strict';
import test from 'node:test';
import type { PolicySyncCounts, SyncMessageKind } from '../../src/observability/metrics';
import { createMetrics } from '../../src/observability/metrics';

function scrape(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(egress_gateway_policysync_(?:messages|malformed_messages|reconnects)_total\S*) (\d+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('PolicySync metrics follow the client stats they are given (one source with status), counting only what was added', async () => {
  const metrics = createMetrics({ processMetrics: false });
  const messages: Record<SyncMessageKind, number> = { in_sync: 0, route_update: 0, route_remove: 0, vtep_update: 0, vtep_remove: 0, ignored: 0, malformed: 0 };
  const counts = { messages, reconnects: 0 };
  metrics.followPolicySync((): PolicySyncCounts => counts);

  messages.route_update = 3;
  messages.in_sync = 1;
  messages.malformed = 2;
  let s = scrape(await metrics.registry.metrics());
  assert.equal(s.get('egress_gateway_policysync_messages_total{kind="route_update"}'), 3);
  assert.equal(s.get('egress_gateway_policysync_messages_total{kind="in_sync"}'), 1);
  assert.equal(s.get('egress_gateway_policysync_messages_total{kind="malformed"}'), 2);
  assert.equal(s.get('egress_gateway_policysync_malformed_messages_total'), 2);
  assert.equal(s.get('egress_gateway_policysync_reconnects_total'), 0);

  // A second scrape with nothing new adds nothing; then only the difference is added.
  s = scrape(await metrics.registry.metrics());
  assert.equal(s.get('egress_gateway_policysync_messages_total{kind="route_update"}'), 3);
  messages.route_update = 10;
  counts.reconnects = 2;
  s = scrape(await metrics.registry.metrics());
  assert.equal(s.get('egress_gateway_policysync_messages_total{kind="route_update"}'), 10);
  assert.equal(s.get('egress_gateway_policysync_malformed_messages_total'), 2);
  assert.equal(s.get('egress_gateway_policysync_reconnects_total'), 2);
});
