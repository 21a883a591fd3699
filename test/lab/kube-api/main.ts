/**
 * The stand-in API server as its own process, so a kernel test or `make demo` can point an agent at
 * it with a kubeconfig:
 *   node dist/test/lab/kube-api/main.js [--host 127.0.0.1] [--port 0] [--kubeconfig FILE] [--bookmark-ms 5000]
 * Prints one JSON line {"event":"listening","url":...} once it listens (and writes FILE when given);
 * objects are created and changed over its REST API (POST, PUT, PATCH with a merge patch, DELETE);
 * POST /_test/cut and /_test/compact cut the open watches and forget the history. SIGTERM/SIGINT stop it.
 */
import { writeFileSync } from 'node:fs';
import { KubeApiServer } from './server';

async function main(argv: readonly string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const server = await KubeApiServer.start({
    host: arg('--host') ?? '127.0.0.1',
    port: Number(arg('--port') ?? '0'),
    bookmarkIntervalMs: Number(arg('--bookmark-ms') ?? '5000'),
  });
  const kubeconfig = arg('--kubeconfig');
  if (kubeconfig) writeFileSync(kubeconfig, server.kubeconfig(), { mode: 0o600 });
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: server.url })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`kube-api: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
