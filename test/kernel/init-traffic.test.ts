import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/**
 * The seed's demo, per dataplane: a TCP connection from the client pod to the external host leaves
 * the gateway with the egress IP as source (seen by tcpdump in ext), its SYN carries the clamped
 * MSS, and the echo comes back to the client pod.
 */
const PORT = '7777';

async function proveEgress(lab: Lab, env: Record<string, string>): Promise<void> {
  const init = await lab.gateway(['init'], { EGRESS_POD_IP: lab.addrs.gwpod, ...env });
  assert.equal(init.code, 0, `init failed: ${init.stderr}${init.stdout}`);
  await lab.setReturnPathByHand();

  const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
  await waitForOutput(server, /listening 7777/);
  const seenAtExt = await lab.capture(lab.names.ext, 'eth0', ['tcp', 'port', PORT]);
  const leavingGateway = await lab.capture(lab.names.gwpod, 'eth0', ['tcp', 'port', PORT, 'and', 'tcp[tcpflags] & tcp-syn != 0']);
  const peer = waitForOutput(server, /peer \S+ \d+/);

  const echo = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, PORT, 'hello through the gateway'), { allowFail: true });
  assert.equal(echo.code, 0, `connect failed: ${echo.stderr}`);
  assert.equal(echo.stdout, 'hello through the gateway\n', 'the echo came back to the client pod');
  assert.match(await peer, new RegExp(`^peer ${lab.addrs.gwpod.replaceAll('.', '\\.')} \\d+`, 'm'), 'the server saw the egress IP');

  // The server's FIN may still be on its way; wait for the client's SYN and a reply to the egress IP.
  await seenAtExt.waitFor(new RegExp(`${lab.addrs.ext}\\.${PORT} > ${lab.addrs.gwpod.replaceAll('.', '\\.')}\\.\\d+: Flags \\[P`));
  const ext = await seenAtExt.stop();
  const syn = ext.split('\n').find((l) => /Flags \[S\]/.test(l));
  assert.ok(syn, `no SYN seen at ext:\n${ext}`);
  assert.match(syn, new RegExp(`IP ${lab.addrs.gwpod.replaceAll('.', '\\.')}\\.\\d+ > ${lab.addrs.ext.replaceAll('.', '\\.')}\\.${PORT}: `));
  assert.match(syn, /mss 1410[,\]]/, 'the SYN carries the MSS clamped to vxlan0 MTU 1450 - 40');
  assert.doesNotMatch(ext, new RegExp(lab.addrs.cpod.replaceAll('.', '\\.')), 'the client pod address never reaches the outside');

  const gwOut = await leavingGateway.stop();
  assert.match(gwOut, /IP 100\.64\.2\.7\.\d+ > 198\.51\.100\.13\.7777: Flags \[S\].*mss 1410/, `SYN leaving gwpod eth0:\n${gwOut}`);
}

describe('init: traffic from the client pod leaves with the egress IP', () => {
  const variants: Array<[string, Record<string, string>]> = [
    ['iptables, legacy', { DATAPLANE: 'iptables', IPTABLES_BACKEND: 'legacy' }],
    ['iptables, nft', { DATAPLANE: 'iptables', IPTABLES_BACKEND: 'nft' }],
    ['nftables', { DATAPLANE: 'nftables' }],
  ];
  for (const [name, env] of variants) {
    it(name, (t) => withLab(t, (lab) => proveEgress(lab, env)));
  }
});
