import { Command, Option } from 'commander';
import { describeCause, exitStatusFor, isGatewayError } from '../errors';
// Types only: each command's module is required by its action (see below).
import type { InitFlags } from '../init/command';
import type { StartFlags } from '../daemon';
import type { StatusFlags } from '../status/command';
import type { AgentFlags } from '../agent/command';
import { findVariable } from '../config/variables';
import { SignalLatch } from '../process-signals';
import { VERSION } from '../version';

/**
 * The command line. Each action loads its own command's module when it runs: `status` and `init`
 * then do not load the daemon (fastify, prom-client, the PolicySync client), nor `start` init's.
 * Flags override the environment variables of the same meaning (the
 * variables are what Calico's manifests set). Only this file maps errors to exit statuses.
 */
export function buildProgram(early: { signals?: SignalLatch } = {}): Command {
  const program = new Command('egress-gateway')
    .description('Egress gateway for Calico: traffic of chosen pods leaves the cluster with one fixed source IP')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();

  program
    .command('init')
    .description('turn this pod network namespace into a gateway: vxlan0, SNAT, MSS clamp, sysctls (run once, privileged)')
    .addOption(settingOption('--pod-ip <ips>', 'egress IP(s), comma separated', 'EGRESS_POD_IPS', 'EGRESS_POD_IP'))
    .addOption(settingOption('--vni <n>', 'VXLAN network identifier', 'EGRESS_VXLAN_VNI'))
    .addOption(settingOption('--vxlan-port <port>', 'VXLAN UDP port', 'EGRESS_VXLAN_PORT'))
    .addOption(settingOption('--iptables-backend <backend>', 'legacy or nft; detected when unset', 'IPTABLES_BACKEND'))
    .addOption(settingOption('--dataplane <kind>', 'iptables or nftables', 'DATAPLANE'))
    .addOption(settingOption('--interface <name>', 'the pod underlay interface, parent of vxlan0', 'EGRESS_INTERFACE'))
    .addOption(settingOption('--log-severity <level>', 'debug, info, warning, error, fatal, panic', 'LOG_SEVERITY'))
    .option('--dry-run', 'print what would be applied and change nothing')
    .action(async (flags: InitFlags) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a command loads its module only when it runs (start-up time); import() would load it as ESM
      const { runInitCommand } = require('../init/command') as typeof import('../init/command');
      await runInitCommand(flags, process.env);
    });

  program
    .command('start')
    .description('run the gateway daemon: PolicySync client, return-path reconciler, probes, health server')
    .addOption(settingOption('--socket-path <path>', 'Felix PolicySync socket', 'DAEMON_SOCKET_PATH'))
    .addOption(settingOption('--pod-ip <ips>', 'egress IP(s), comma separated', 'EGRESS_POD_IPS', 'EGRESS_POD_IP'))
    .addOption(settingOption('--health-port <port>', 'health server port, 0 disables it', 'HEALTH_PORT'))
    .addOption(settingOption('--health-host <address>', 'health server address; the egress IP when unset', 'HEALTH_HOST'))
    .addOption(settingOption('--resync-interval <duration>', 'full kernel resync period', 'RESYNC_INTERVAL'))
    .addOption(settingOption('--vni <n>', 'VXLAN id to re-create vxlan0 with, as init', 'EGRESS_VXLAN_VNI'))
    .addOption(settingOption('--vxlan-port <port>', 'VXLAN UDP port, as init', 'EGRESS_VXLAN_PORT'))
    .addOption(settingOption('--interface <name>', 'the pod underlay interface, as init: vxlan0 is re-created on it', 'EGRESS_INTERFACE'))
    .addOption(settingOption('--dataplane <kind>', "iptables or nftables, as init; unset: the one init's rules are in", 'DATAPLANE'))
    .addOption(settingOption('--iptables-backend <backend>', "legacy or nft, as init; unset: where init's rules are", 'IPTABLES_BACKEND'))
    .addOption(settingOption('--log-severity <level>', 'debug, info, warning, error, fatal, panic', 'LOG_SEVERITY'))
    .addOption(settingOption('--status-socket <path>', 'local socket for `status`', 'STATUS_SOCKET'))
    .action(async (flags: StartFlags) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a command loads its module only when it runs (start-up time); import() would load it as ESM
      const { runStartCommand } = require('../daemon') as typeof import('../daemon');
      process.exitCode = await runStartCommand(flags, process.env, early.signals ? { signals: early.signals } : {});
    });

  program
    .command('agent')
    .description('run the OSS node agent (one per node, host network): steer annotated pods of this node to their gateways, serve the route feed to the gateways here')
    .addOption(settingOption('--node-name <name>', "this node's name (downward API spec.nodeName)", 'NODE_NAME'))
    .addOption(settingOption('--kubeconfig <file>', 'kubeconfig; in-cluster service account when unset', 'KUBECONFIG'))
    .addOption(settingOption('--gateway-selector <selector>', 'Kubernetes label selector of gateway pods', 'AGENT_GATEWAY_SELECTOR'))
    .addOption(settingOption('--route-tables <from-to>', 'route tables the agent may use', 'AGENT_ROUTE_TABLES'))
    .addOption(settingOption('--rule-priority <n>', 'priority of its ip rules', 'AGENT_RULE_PRIORITY'))
    .addOption(settingOption('--policysync-socket <path>', 'where it serves the route feed to local gateways', 'AGENT_POLICYSYNC_SOCKET'))
    .addOption(settingOption('--health-port <port>', '/readiness, /liveness, /metrics; 0 disables them', 'AGENT_HEALTH_PORT'))
    .addOption(settingOption('--vni <n>', 'VXLAN id of egress.calico', 'EGRESS_VXLAN_VNI'))
    .addOption(settingOption('--vxlan-port <port>', 'VXLAN UDP port of egress.calico', 'EGRESS_VXLAN_PORT'))
    .addOption(settingOption('--status-socket <path>', 'local socket for `status`', 'STATUS_SOCKET'))
    .addOption(settingOption('--multipath-hash <l3|l4>', "how flows spread over a pod's gateways; unset: the node's setting", 'AGENT_MULTIPATH_HASH'))
    .addOption(settingOption('--log-severity <level>', 'debug, info, warning, error, fatal, panic', 'LOG_SEVERITY'))
    .option('--teardown', 'uninstall: remove everything the agent owns on this node (rules, tables, nexthops, egress.calico, its socket), then exit')
    .action(async (flags: AgentFlags) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a command loads its module only when it runs (start-up time); import() would load it as ESM
    const { runAgentCommand } = require('../agent/command') as typeof import('../agent/command');
      process.exitCode = await runAgentCommand(flags, process.env);
    });

  program
    .command('status')
    .description('ask the running daemon how it is: readiness and why, sync, return path and drift, probes, drain (exit 0 ready, 1 not ready, 3 unreachable)')
    .option('--json', 'print the status document as JSON, for scripts')
    .option('--entries', 'list what is programmed (routes, neighbours, FDB entries) with the node each is for')
    .option('--block <cidr>', 'only the routes overlapping this block, and their nodes\' entries (implies --entries)')
    .option('--node <name>', 'only the entries of this client node (implies --entries)')
    .addOption(settingOption('--socket <path>', "the daemon's status socket", 'STATUS_SOCKET'))
    .action(async (flags: StatusFlags) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a command loads its module only when it runs (start-up time); import() would load it as ESM
      const { runStatusCommand } = require('../status/command') as typeof import('../status/command');
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

/**
 * A flag that overrides variables: its help ends in "(env NAME, default D)", taken from VARIABLES, so
 * the help cannot drift from the defaults the parsers use (test/unit/cli-help.test.ts holds it there).
 * A name that is not in VARIABLES throws when the program is built.
 */
function settingOption(flags: string, what: string, ...variables: [string, ...string[]]): Option {
  const specs = variables.map((name) => {
    const spec = findVariable(name);
    if (!spec) throw new Error(`cli: ${flags} names ${name}, which src/config/variables.ts does not list`);
    return spec;
  });
  // Several variables (EGRESS_POD_IPS / EGRESS_POD_IP) share one meaning, so the first one's default stands for all.
  const def = specs[0]?.default;
  const shown = def === undefined ? '' : def === '' ? ', default empty' : `, default ${def}`;
  return new Option(flags, `${what} (env ${variables.join(' / ')}${shown})`);
}

export async function main(argv: readonly string[]): Promise<void> {
  // `start`: catch SIGTERM, SIGINT and SIGHUP now, before the daemon's modules load (src/process-signals.ts).
  const early = argv[2] === 'start' ? { signals: new SignalLatch() } : {};
  const program = buildProgram(early);
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
