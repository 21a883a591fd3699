import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCodes, isGatewayError } from '../../src/errors';
import type { CommandResult } from '../../src/kernel/exec';
import { encodeAttribute as attr, parseAttributes as parseAttrs } from '../../src/kernel/netlink/attributes';
import { IptablesRestoreNetfilter, NftNetfilter, detectIptablesVariant, type Runner } from '../../src/kernel/netfilter';
import { ProcSysctl, sysctlKeyPath } from '../../src/kernel/sysctl';

/** A scripted runner: answers by program name and records every call with its input. */
function scripted(answers: Record<string, CommandResult | 'ENOENT'>): { run: Runner; calls: string[] } {
  const calls: string[] = [];
  const run: Runner = async (file, args, options) => {
    calls.push(`${file} ${args.join(' ')}${options?.input !== undefined ? `\n${options.input}` : ''}`);
    const a = answers[`${file} ${args.join(' ')}`.trim()] ?? answers[file];
    if (a === 'ENOENT') throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' });
    return a ?? { code: 0, stdout: '', stderr: '' };
  };
  return { run, calls };
}

const payload = '*nat\n:EGW-POSTROUTING - [0:0]\n-A EGW-POSTROUTING -j RETURN\n-I POSTROUTING -j EGW-POSTROUTING\nCOMMIT\n';

describe('IptablesRestoreNetfilter', () => {
  it('drops the jump iptables-save already lists, keeps it otherwise, and restores with --noflush', async () => {
    const saved = '# Generated\n*nat\n:POSTROUTING ACCEPT [0:0]\n:EGW-POSTROUTING - [0:0]\n-A POSTROUTING  -j EGW-POSTROUTING\nCOMMIT\n';
    const present = scripted({ 'iptables-legacy-save -t nat': { code: 0, stdout: saved, stderr: '' } });
    await new IptablesRestoreNetfilter('legacy', present.run).apply(payload);
    assert.deepEqual(present.calls, [
      'iptables-legacy-save -t nat',
      'iptables-legacy-restore -w --noflush\n*nat\n:EGW-POSTROUTING - [0:0]\n-A EGW-POSTROUTING -j RETURN\nCOMMIT\n',
    ]);
    const absent = scripted({});
    await new IptablesRestoreNetfilter('nft', absent.run).apply(payload);
    assert.deepEqual(absent.calls, ['iptables-nft-save -t nat', `iptables-nft-restore -w --noflush\n${payload}`]);
  });

  it('a missing binary is BACKEND_UNAVAILABLE naming the backend; a rejection is NETFILTER_APPLY_FAILED with stderr', async () => {
    const missing = scripted({ 'iptables-legacy-restore': 'ENOENT' });
    await assert.rejects(new IptablesRestoreNetfilter('legacy', missing.run).checkAvailable(), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.BACKEND_UNAVAILABLE));
      assert.match(err.message, /iptables-legacy-restore cannot be started \(backend iptables-legacy\): spawn iptables-legacy-restore ENOENT$/);
      return true;
    });
    const rejected = scripted({ 'iptables-nft-restore': { code: 2, stdout: '', stderr: 'iptables-restore: line 3 failed\n' } });
    await assert.rejects(new IptablesRestoreNetfilter('nft', rejected.run).apply(payload), (err: unknown) => {
      assert.ok(isGatewayError(err, ErrorCodes.NETFILTER_APPLY_FAILED));
      assert.match(err.message, /exit status 2, nothing applied: iptables-restore: line 3 failed$/);
      return true;
    });
  });
});

describe('IptablesRestoreNetfilter, IPv6', () => {
  it('an ipv6 payload goes to ip6tables-<variant>-save/restore; checkAvailable checks each family; inet is refused', async () => {
    const six = scripted({});
    const nf = new IptablesRestoreNetfilter('legacy', six.run);
    await nf.apply(payload, 'ipv6');
    await nf.checkAvailable(['ipv4', 'ipv6']);
    assert.deepEqual(six.calls, [
      'ip6tables-legacy-save -t nat',
      `ip6tables-legacy-restore -w --noflush\n${payload}`,
      'iptables-legacy-restore --version',
      'ip6tables-legacy-restore --version',
    ]);
    await assert.rejects(nf.apply('table inet x\n', 'inet'), (err: unknown) => isGatewayError(err, ErrorCodes.INTERNAL));
    await assert.rejects(new NftNetfilter(six.run).apply(payload, 'ipv6'), (err: unknown) => isGatewayError(err, ErrorCodes.INTERNAL));
    assert.equal(six.calls.length, 4, 'a refused family runs nothing');
    const missing = scripted({ 'ip6tables-nft-restore': 'ENOENT' });
    await assert.rejects(new IptablesRestoreNetfilter('nft', missing.run).checkAvailable(['ipv4', 'ipv6']), /ip6tables-nft-restore cannot be started/);
  });
});

describe('NftNetfilter', () => {
  it('feeds the payload to nft -f - and reports its stderr', async () => {
    const ok = scripted({});
    await new NftNetfilter(ok.run).apply('table inet x\n');
    assert.deepEqual(ok.calls, ['nft -f -\ntable inet x\n']);
    const bad = scripted({ nft: { code: 1, stdout: '', stderr: 'Error: syntax error\n' } });
    await assert.rejects(new NftNetfilter(bad.run).apply('x'), /NETFILTER|nft -f -: exit status 1, nothing applied: Error: syntax error$/);
    const missing = scripted({ nft: 'ENOENT' });
    await assert.rejects(new NftNetfilter(missing.run).apply('x'), (err: unknown) => isGatewayError(err, ErrorCodes.BACKEND_UNAVAILABLE));
  });
});

describe('detectIptablesVariant', () => {
  const rules = (n: number): CommandResult => ({ code: 0, stdout: '*filter\n' + '-A INPUT -j ACCEPT\n'.repeat(n) + 'COMMIT\n', stderr: '' });
  const cases: Array<{ name: string; legacy: CommandResult | 'ENOENT'; nft: CommandResult | 'ENOENT'; want: 'legacy' | 'nft' }> = [
    { name: 'nothing anywhere: nft', legacy: rules(0), nft: rules(0), want: 'nft' },
    { name: 'legacy holds more', legacy: rules(3), nft: rules(1), want: 'legacy' },
    { name: 'tie: nft', legacy: rules(2), nft: rules(2), want: 'nft' },
    { name: 'nft tools missing: legacy', legacy: rules(0), nft: 'ENOENT', want: 'legacy' },
    { name: 'legacy tools missing: nft', legacy: 'ENOENT', nft: rules(0), want: 'nft' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { run } = scripted({ 'iptables-legacy-save': c.legacy, 'iptables-nft-save': c.nft });
      assert.equal((await detectIptablesVariant(run)).variant, c.want);
    });
  }
});

describe('ProcSysctl', () => {
  it('reads and writes below its root, dotted or slashed keys', async () => {
    const root = await mkdtemp(join(tmpdir(), 'egw-sysctl-'));
    try {
      await mkdir(join(root, 'net/ipv4/conf/eth0.10'), { recursive: true });
      await writeFile(join(root, 'net/ipv4/ip_forward'), '0\n');
      await writeFile(join(root, 'net/ipv4/conf/eth0.10/rp_filter'), '1\n');
      const s = new ProcSysctl(root);
      assert.equal(await s.get('net.ipv4.ip_forward'), '0');
      await s.set('net/ipv4/conf/eth0.10/rp_filter', '0');
      assert.equal(await readFile(join(root, 'net/ipv4/conf/eth0.10/rp_filter'), 'utf8'), '0\n');
      await assert.rejects(s.get('net/ipv4/conf/vxlan0/rp_filter'), (err: unknown) => {
        assert.ok(isGatewayError(err, ErrorCodes.KERNEL_OP_FAILED));
        assert.match(err.message, /^reading sysctl net\/ipv4\/conf\/vxlan0\/rp_filter: ENOENT/);
        return true;
      });
      assert.throws(() => sysctlKeyPath('net/../../etc/passwd'), RangeError);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('netlink attributes', () => {
  it('encodes with 4-byte padding and parses nested attributes back', () => {
    const inner = Buffer.concat([attr(1, Buffer.from([1, 16, 0, 0])), attr(15, Buffer.from([0x12, 0xb6]))]);
    const outer = Buffer.concat([attr(1, Buffer.from('vxlan\0')), attr(2 | 0x8000, inner)]);
    assert.equal(attr(1, Buffer.from('vxlan')).length, 12);
    const parsed = parseAttrs(outer);
    assert.equal(parsed.get(1)?.toString(), 'vxlan\0');
    const data = parseAttrs(parsed.get(2) ?? Buffer.alloc(0));
    assert.equal(data.get(1)?.readUInt32LE(0), 4097);
    assert.equal(data.get(15)?.readUInt16BE(0), 4790);
  });
});
