import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with an argument vector (never a shell) and optional standard input.
 * Resolves with the exit status instead of throwing, so callers decide what failure means;
 * rejects only when the program cannot be started (ENOENT, EACCES).
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    // Our own timer, not spawn's `timeout` option: that one is not cleared when the program
    // cannot be started, and would keep the process alive for the whole timeout after ENOENT.
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 30_000);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {
      /* the program may exit before reading all its input; its exit status tells */
    });
    child.stdin.end(options.input ?? '');
  });
}
