import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProgram } from '../../src/cli/main';
import { DEFAULT_STATUS_SOCKET, VARIABLES, type CommandName } from '../../src/config/variables';

/**
 * Every flag's help names the variable it overrides and that variable's default as VARIABLES has it
 * (the README table and the parsers hold to the same list: test/unit/variables.test.ts), so a changed
 * default cannot leave `--help` stale. Read from the rendered help, as a user sees it.
 */

const COMMANDS: readonly CommandName[] = ['init', 'start', 'status'];
/** Flags that override no variable. */
const NO_VARIABLE = new Set(['--dry-run', '--json', '--help', '--entries', '--block', '--node']);
/** Where a command spells a variable's flag differently from VARIABLES' `flag`. */
const ALIASES: Partial<Record<CommandName, Record<string, string>>> = { status: { '--socket': 'STATUS_SOCKET' } };

/** The options section, one entry per flag, wrapped description lines joined. */
function optionsOf(help: string): Map<string, string> {
  const section = help.slice(help.indexOf('\nOptions:\n') + '\nOptions:\n'.length);
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of section.split('\n')) {
    const m = /^ {2}(?:-\w, )?(--[\w-]+)(?: <[^>]+>)?\s+(.*)$/.exec(line);
    if (m && m[1] !== undefined && m[2] !== undefined) {
      current = m[1];
      out.set(current, m[2]);
    } else if (current !== undefined && /^ {4,}\S/.test(line)) {
      out.set(current, `${out.get(current) ?? ''} ${line.trim()}`);
    } else if (line.trim() !== '') {
      current = undefined;
    }
  }
  return out;
}

function helpOf(command: CommandName): string {
  const cmd = buildProgram().commands.find((c) => c.name() === command);
  assert.ok(cmd, `the CLI has a ${command} command`);
  return cmd.helpInformation();
}

describe('CLI help', () => {
  for (const command of COMMANDS) {
    it(`${command} --help: each flag names its variable and the variable's default`, () => {
      const options = optionsOf(helpOf(command));
      assert.ok(options.size >= 2, `parsed the options of ${command}: ${[...options.keys()].join(' ')}`);
      let checked = 0;
      for (const [flag, text] of options) {
        if (NO_VARIABLE.has(flag)) {
          assert.doesNotMatch(text, /\(env /, `${flag} overrides no variable`);
          continue;
        }
        const alias = ALIASES[command]?.[flag];
        const vars = VARIABLES.filter((v) => v.commands.includes(command) && (v.flag === flag || v.name === alias));
        assert.ok(vars.length > 0, `${command} ${flag}: no variable in VARIABLES has this flag for ${command}`);
        const env = /\(env ([A-Z_ /]+?)(?:, default (.*))?\)$/.exec(text);
        assert.ok(env, `${command} ${flag}: the help ends in "(env NAME, default D)": ${text}`);
        assert.deepEqual(new Set(env[1]?.split(' / ')), new Set(vars.map((v) => v.name)), `${command} ${flag}: the variables named`);
        for (const v of vars) {
          const want = v.default === undefined ? undefined : v.default === '' ? 'empty' : v.default;
          assert.equal(env[2], want, `${command} ${flag}: the default of ${v.name}`);
        }
        checked++;
      }
      assert.ok(checked > 0);
    });

    it(`${command} --help lists a flag for every variable that has one`, () => {
      const options = optionsOf(helpOf(command));
      const aliased = new Set(Object.values(ALIASES[command] ?? {}));
      for (const v of VARIABLES) {
        if (!v.flag || !v.commands.includes(command) || aliased.has(v.name)) continue;
        assert.ok(options.has(v.flag), `${command} has no ${v.flag} although ${v.name} names it`);
      }
    });
  }

  it('the parser joins wrapped lines (a long default survives the wrap)', () => {
    const text = optionsOf(helpOf('start')).get('--status-socket');
    assert.equal(text, `local socket for \`status\` (env STATUS_SOCKET, default ${DEFAULT_STATUS_SOCKET})`);
  });
});
