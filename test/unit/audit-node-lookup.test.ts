import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteStore } from '../../src/dataplane/route-store';
import { ev, ip, route } from './dataplane-fixtures';

test("RouteStore.nodeFor: the client's node by longest prefix over workload routes, following updates", () => {
  const store = new RouteStore();
  store.apply(ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')));
  assert.equal(store.nodeFor(ip('100.64.1.5')), undefined, 'nothing is in use before in_sync');
  store.apply(ev.update(route('100.64.1.37/32', 'remote_workload', 'node3', '198.51.100.14'))); // a borrowed address
  store.apply(ev.update(route('100.64.0.0/16', 'cidr_info', '')));
  store.apply(ev.update(route('198.51.100.11/32', 'remote_host', 'node1', '198.51.100.11')));
  store.apply(ev.update(route('2001:db8:64:1::/122', 'remote_workload', 'node1', '198.51.100.11')));
  store.apply(ev.inSync());
  const lookups = ['100.64.1.5', '100.64.1.37', '100.64.1.64', '198.51.100.11', '2001:db8:64:1::5', '2001:db8:64:2::5'].map(
    (a) => `${a} ${store.nodeFor(ip(a)) ?? '-'}`,
  );
  assert.deepEqual(lookups, [
    '100.64.1.5 node1',
    '100.64.1.37 node3',
    '100.64.1.64 -',
    '198.51.100.11 -', // a host route names a node, but no pod lives there
    '2001:db8:64:1::5 node1',
    '2001:db8:64:2::5 -',
  ]);
  store.apply(ev.update(route('100.64.1.0/26', 'remote_workload', 'node7', '198.51.100.17')));
  assert.equal(store.nodeFor(ip('100.64.1.5')), 'node7', 'a moved block is seen at once');
  store.apply(ev.remove('100.64.1.0/26'));
  assert.equal(store.nodeFor(ip('100.64.1.5')), undefined);
});
