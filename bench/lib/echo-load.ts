/**
 * The ICMP echo of many client-node agents at one gateway (docs/benchmarks.md, failover):
 *   node echo-load.js <target> <perSecond>
 * sends <perSecond> echo requests a second to <target> (1,000 nodes at 10 a second each: 10,000),
 * in bursts every 10 ms, over the project's own pinger (src/health/icmp.ts, a raw socket); prints
 * "sending" at once, and on SIGTERM one JSON line: sent, answered.
 */
import { Pinger } from '../../src/health/icmp';
import { RawIcmpSocket } from '../../src/health/raw-icmp-socket';
import { parseIp } from '../../src/model/ip';

function main([targetText = '', rateText = '10000']: string[]): void {
  const target = parseIp(targetText);
  if (!target) throw new Error(`not an address: ${targetText}`);
  const perTick = Math.max(1, Math.round(Number(rateText) / 100));
  const socket = new RawIcmpSocket();
  socket.open(target.family);
  const pinger = new Pinger(socket);
  let sent = 0;
  let answered = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      const controller = new AbortController();
      const give = setTimeout(() => controller.abort(new Error('late')), 1000);
      sent++;
      pinger.echo(target, controller.signal).then(
        () => {
          clearTimeout(give);
          answered++;
        },
        () => clearTimeout(give),
      );
    }
  }, 10);
  process.stdout.write('sending\n');
  process.on('SIGTERM', () => {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ sent, answered })}\n`);
    socket.close();
    setImmediate(() => process.exit(0));
  });
}

main(process.argv.slice(2));
