import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../lab/lab';

/** The daemon container cannot write /proc/sys, so init turns on what the SNAT audit log reads. */
test('init with AUDIT_LOG turns on conntrack counters and timestamps in the pod namespace; without, leaves them', (t) =>
  withLab(t, async (lab) => {
    const read = async (key: string): Promise<string> =>
      (await lab.exec(lab.names.gwpod, ['sysctl', '-n', key])).stdout.trim();
    const plain = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(await read('net.netfilter.nf_conntrack_acct'), '0');
    assert.equal(await read('net.netfilter.nf_conntrack_timestamp'), '0');

    const audited = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod, AUDIT_LOG: 'stdout' });
    assert.equal(audited.code, 0, audited.stderr);
    assert.match(audited.stdout, /"event":"conntrack_accounting_ready"/);
    assert.equal(await read('net.netfilter.nf_conntrack_acct'), '1');
    assert.equal(await read('net.netfilter.nf_conntrack_timestamp'), '1');
  }));
