import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natExemptionPresent, renderNatExemption } from '../../src/steering/nat-exemption';

describe('NAT exemption (nftables text)', () => {
  it('is one transaction that replaces the agent\'s table whole, at srcnat - 1', () => {
    assert.equal(
      renderNatExemption('egress.calico'),
      [
        'table inet egress_gateway_agent',
        'delete table inet egress_gateway_agent',
        'table inet egress_gateway_agent {',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat - 1; policy accept;',
        '\t\toifname "egress.calico" meta nfproto ipv4 snat ip to ip saddr',
        '\t\toifname "egress.calico" meta nfproto ipv6 snat ip6 to ip6 saddr',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('is found in `nft list table` output as nft 1.0 prints it, and not when anything differs', () => {
    const listed = [
      'table inet egress_gateway_agent {',
      '\tchain postrouting {',
      '\t\ttype nat hook postrouting priority srcnat - 1; policy accept;',
      '\t\toifname "egress.calico" snat ip to ip saddr',
      '\t\toifname "egress.calico" snat ip6 to ip6 saddr',
      '\t}',
      '}',
      '',
    ].join('\n');
    assert.equal(natExemptionPresent(listed, 'egress.calico'), true);
    assert.equal(natExemptionPresent(listed.replace('srcnat - 1', '99'), 'egress.calico'), true, 'older nft prints the number');
    assert.equal(natExemptionPresent(undefined, 'egress.calico'), false, 'no table');
    assert.equal(natExemptionPresent(listed.replace('srcnat - 1', 'srcnat'), 'egress.calico'), false, 'same priority as Felix: too late');
    assert.equal(natExemptionPresent(listed.replace(/.*snat ip6.*\n/, ''), 'egress.calico'), false, 'a rule missing');
    assert.equal(natExemptionPresent(listed.replace('}\n}', '\t\tcounter masquerade\n\t}\n}'), 'egress.calico'), false, 'a rule of someone else');
    assert.equal(natExemptionPresent(listed, 'egress.other'), false, 'another device');
  });
});
