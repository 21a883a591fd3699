/**
 * Preloaded into `egress-gateway start` by a test (NODE_OPTIONS=--require .../signal-on-load.js) to
 * send the process a signal at a known point of its start-up without timing luck: right after the
 * module whose path ends in SIGNAL_ON_LOAD (e.g. /src/daemon.js) has loaded, SIGNAL_ON_LOAD_SIGNAL
 * (default SIGTERM) goes to the process itself. A process with no handler for it dies there and then.
 */
import Module from 'node:module';

const suffix = process.env['SIGNAL_ON_LOAD'] ?? '';
const signal = (process.env['SIGNAL_ON_LOAD_SIGNAL'] ?? 'SIGTERM') as NodeJS.Signals;
type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const mod = Module as unknown as { _load: Load; _resolveFilename(request: string, parent: unknown): string };
const load = mod._load;
let sent = false;

mod._load = function signalOnLoad(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
  const loaded = load.call(this, request, parent, isMain);
  if (!sent && suffix !== '') {
    let file = '';
    try {
      file = mod._resolveFilename(request, parent);
    } catch {
      /* a built-in or unresolvable request */
    }
    if (file.endsWith(suffix)) {
      sent = true;
      process.stderr.write(`signal-on-load: ${signal} after loading ${file}\n`);
      process.kill(process.pid, signal);
    }
  }
  return loaded;
};
