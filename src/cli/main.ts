import { Command, Option } from 'commander';
import { describeCause, exitStatusFor, isGatewayError } from '../errors';
import { runInitCommand, type InitFlags } from '../init/command';
import { runStartCommand, type StartFlags } from '../daemon';
import { runStatusCommand, type StatusFlags } from '../status/command';
import { DEFAULT_HEALTH_PORT, DEFAULT_SOCKET_PATH, DEFAULT_STATUS_SOCKET } from '../config/variables';
import { VERSION } from '../version';

/**
 * The command line. Flags override the environment variables of the same meaning (the
 * variables are what Calico's manifests set). Only this file maps errors to exit statuses.
 */
export function buildProgram(): Command {
  const program = new Command('egress-gateway')
    .description('Egress gateway for Calico: traffic of chosen pods leaves the cluster with one fixed source IP')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();

  program
    .command('init')
    .description('turn this pod network namespace into a gateway: vxlan0, SNAT, MSS clamp, sysctls (run once, privileged)')
    .addOption(new Option('--pod-ip <ips>', 'egress IP(s), comma separated (env EGRESS_POD_IPS / EGRESS_POD_IP)'))
    .addOption(new Option('--vni <n>', 'VXLAN network identifier (env EGRESS_VXLAN_VNI, default 4097)'))
    .addOption(new Option('--vxlan-port <port>', 'VXLAN UDP port (env EGRESS_VXLAN_PORT, default 4790)'))
    .addOption(new Option('--iptables-backend <backend>', 'legacy or nft; detected when unset (env IPTABLES_BACKEND)'))
    .addOption(new Option('--dataplane <kind>', 'iptables or nftables (env DATAPLANE, default iptables)'))
    .addOption(new Option('--interface <name>', 'the pod underlay interface (env EGRESS_INTERFACE, default eth0)'))
    .addOption(new Option('--log-severity <level>', 'debug, info, warning, error, fatal, panic (env LOG_SEVERITY)'))
    .option('--dry-run', 'print what would be applied and change nothing')
    .action(async (flags: InitFlags) => {
      await runInitCommand(flags, process.env);
    });

  program
    .command('start')
    .description('run the gateway daemon: PolicySync client, return-path reconciler, probes, health server')
    .addOption(new Option('--socket-path <path>', `Felix PolicySync socket (env DAEMON_SOCKET_PATH, default ${DEFAULT_SOCKET_PATH})`))
    .addOption(new Option('--pod-ip <ips>', 'egress IP(s), comma separated (env EGRESS_POD_IPS / EGRESS_POD_IP)'))
    .addOption(new Option('--health-port <port>', `health server port, 0 disables it (env HEALTH_PORT, default ${DEFAULT_HEALTH_PORT})`))
    .addOption(new Option('--health-host <address>', 'health server address (env HEALTH_HOST, default the egress IP)'))
    .addOption(new Option('--resync-interval <duration>', 'full kernel resync period (env RESYNC_INTERVAL, default 30s)'))
    .addOption(new Option('--vni <n>', 'VXLAN id to re-create vxlan0 with, as init (env EGRESS_VXLAN_VNI, default 4097)'))
    .addOption(new Option('--vxlan-port <port>', 'VXLAN UDP port, as init (env EGRESS_VXLAN_PORT, default 4790)'))
    .addOption(new Option('--interface <name>', 'the pod underlay interface, as init: vxlan0 is re-created on it (env EGRESS_INTERFACE, default eth0)'))
    .addOption(new Option('--log-severity <level>', 'debug, info, warning, error, fatal, panic (env LOG_SEVERITY)'))
    .addOption(new Option('--status-socket <path>', `local socket for \`status\` (env STATUS_SOCKET, default ${DEFAULT_STATUS_SOCKET})`))
    .action(async (flags: StartFlags) => {
      process.exitCode = await runStartCommand(flags, process.env);
    });

  program
    .command('status')
    .description('ask the running daemon how it is: readiness and why, sync, return path and drift, probes, drain (exit 0 ready, 1 not ready, 3 unreachable)')
    .option('--json', 'print the status document as JSON, for scripts')
    .addOption(new Option('--socket <path>', `the daemon's status socket (env STATUS_SOCKET, default ${DEFAULT_STATUS_SOCKET})`))
    .action(async (flags: StatusFlags) => {
      process.exitCode = await runStatusCommand(flags, process.env, (text) => process.stdout.write(text));
    });

  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`${VERSION}\n`);
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    const commanderCode = (err as { code?: unknown }).code;
    if (typeof commanderCode === 'string' && commanderCode.startsWith('commander.')) {
      // help and version exit 0; usage mistakes exit 2, like bad configuration.
      const ok = commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' || commanderCode === 'commander.help';
      process.exitCode = ok ? 0 : 2;
      return;
    }
    process.stderr.write(`egress-gateway: ${isGatewayError(err) ? `${err.code}: ${err.message}` : describeCause(err)}\n`);
    process.exitCode = exitStatusFor(err);
  }
}
