import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * The folder holding package.json (and proto/), found by walking up from the compiled file,
 * so the same code works from dist/, from a helper's build folder, and inside the image.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package root not found above ${__dirname}`);
    dir = parent;
  }
}
