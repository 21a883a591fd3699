import { ErrorCodes, GatewayError } from '../errors';
import { dropPresentInserts } from '../kernel/netfilter';
import type { Netfilter, NetfilterBackend, RulesetFamily } from '../kernel/ports';

const BUILTIN_CHAINS: Readonly<Record<string, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};
const TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'REJECT', 'LOG', 'SNAT', 'DNAT', 'MASQUERADE', 'TCPMSS', 'MARK', 'CONNMARK', 'CT']);

interface Table {
  readonly name: string;
  readonly chains: Map<string, string[]>;
}

/**
 * iptables tables in memory, fed like `iptables-restore --noflush` through the same adapter rule
 * for jumps (an `-I` already present is dropped). A payload that does not parse, or names a chain
 * or target that does not exist, is rejected whole and changes nothing, as iptables-restore does.
 * IPv4 and IPv6 (ip6tables) tables are separate, as in the kernel.
 */
export class FakeIptables implements Netfilter {
  applies = 0;
  private tables = new Map<string, Table>();
  private tables6 = new Map<string, Table>();
  private rejection: string | undefined;

  constructor(readonly backend: Extract<NetfilterBackend, 'iptables-legacy' | 'iptables-nft'> = 'iptables-nft') {}

  /** A rule someone else wrote, e.g. seedRule('nat', 'POSTROUTING', '-s 203.0.113.0/24 -j MASQUERADE'). */
  seedRule(table: string, chain: string, spec: string, family: 'ipv4' | 'ipv6' = 'ipv4'): void {
    const t = this.table(family === 'ipv6' ? this.tables6 : this.tables, table);
    if (!t) throw new RangeError(`no table ${table}`);
    if (!t.chains.has(chain)) t.chains.set(chain, []);
    t.chains.get(chain)?.push(spec);
  }

  /** The next apply fails as if the tool had printed this and exited 1. */
  rejectNext(stderr: string): void {
    this.rejection = stderr;
  }

  async apply(payload: string, family: RulesetFamily = 'ipv4'): Promise<void> {
    if (family === 'inet') throw new GatewayError(ErrorCodes.INTERNAL, `an inet (nftables) ruleset cannot be applied with the ${this.backend} backend`);
    if (this.rejection !== undefined) {
      const stderr = this.rejection;
      this.rejection = undefined;
      throw this.failure(stderr, family);
    }
    const current = family === 'ipv6' ? this.tables6 : this.tables;
    const next = new Map([...current].map(([name, t]) => [name, { name, chains: new Map([...t.chains].map(([c, r]) => [c, [...r]])) }]));
    const saved = new Map([...next.keys()].map((name) => [name, this.dumpTable(next, name)]));
    let table: Table | undefined;
    let lineNo = 0;
    for (const raw of dropPresentInserts(payload, saved).split('\n')) {
      lineNo++;
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const bad = (why: string): GatewayError => this.failure(`${family === 'ipv6' ? 'ip6' : 'ip'}tables-restore: line ${lineNo} failed: ${why}`, family);
      if (line.startsWith('*')) {
        table = this.table(next, line.slice(1));
        if (!table) throw bad(`table ${line.slice(1)} does not exist`);
        continue;
      }
      if (line === 'COMMIT') {
        table = undefined;
        continue;
      }
      if (!table) throw bad('rule outside a table');
      const t = table;
      const decl = /^:(\S+)\s+(\S+)/.exec(line);
      if (decl) {
        const chain = decl[1] ?? '';
        if (!(BUILTIN_CHAINS[t.name] ?? []).includes(chain)) t.chains.set(chain, []); // declaring a user chain flushes it under --noflush
        continue;
      }
      const rule = /^-([AID])\s+(\S+)(?:\s+(\d+))?\s+(.*)$/.exec(line);
      if (!rule) throw bad(`cannot parse ${JSON.stringify(line)}`);
      const [, op, chain = '', pos, spec = ''] = rule;
      const rules = t.chains.get(chain);
      if (!rules) throw bad(`chain ${chain} does not exist`);
      const target = /(?:^|\s)-j\s+(\S+)/.exec(spec)?.[1];
      if (target !== undefined && !TARGETS.has(target) && !t.chains.has(target)) throw bad(`target ${target} does not exist`);
      if (op === 'A') rules.push(spec);
      else if (op === 'I') rules.splice(pos ? Number(pos) - 1 : 0, 0, spec);
      else {
        const i = rules.indexOf(spec);
        if (i < 0) throw bad(`no rule ${JSON.stringify(spec)} in ${chain} to delete`);
        rules.splice(i, 1);
      }
    }
    if (family === 'ipv6') this.tables6 = next;
    else this.tables = next;
    this.applies++;
  }

  /**
   * iptables-save without counters or comments, tables in name order; then, when any IPv6 table
   * exists, `# ip6tables` and ip6tables-save the same way.
   */
  dump(): string {
    const save = (tables: Map<string, Table>): string =>
      [...tables.keys()]
        .sort()
        .map((name) => this.dumpTable(tables, name))
        .join('');
    return save(this.tables) + (this.tables6.size > 0 ? `# ip6tables\n${save(this.tables6)}` : '');
  }

  private dumpTable(tables: Map<string, Table>, name: string): string {
    const t = tables.get(name);
    if (!t) return '';
    const builtins = BUILTIN_CHAINS[name] ?? [];
    const userChains = [...t.chains.keys()].filter((c) => !builtins.includes(c)).sort();
    const order = [...builtins, ...userChains];
    return [
      `*${name}`,
      ...order.map((c) => `:${c} ${builtins.includes(c) ? 'ACCEPT' : '-'}`),
      ...order.flatMap((c) => (t.chains.get(c) ?? []).map((r) => `-A ${c} ${r}`)),
      'COMMIT',
      '',
    ].join('\n');
  }

  private table(tables: Map<string, Table>, name: string): Table | undefined {
    let t = tables.get(name);
    const builtins = BUILTIN_CHAINS[name];
    if (!t && builtins) {
      // Like the kernel, a table appears the first time something uses it.
      t = { name, chains: new Map(builtins.map((c) => [c, []])) };
      tables.set(name, t);
    }
    return t;
  }

  private failure(stderr: string, family: 'ipv4' | 'ipv6'): GatewayError {
    const tool = family === 'ipv6' ? this.backend.replace(/^iptables/, 'ip6tables') : this.backend;
    return new GatewayError(ErrorCodes.NETFILTER_APPLY_FAILED, `applying the ruleset with ${tool}-restore --noflush: exit status 1, nothing applied: ${stderr}`);
  }
}

/**
 * nftables tables in memory, fed like `nft -f -`: `table F N`, `delete table F N` and
 * `table F N { ... }` statements, all or nothing. It does not check rule syntax (the kernel tests
 * do); it models what a transaction does to which table.
 */
export class FakeNftables implements Netfilter {
  readonly backend: NetfilterBackend = 'nftables';
  applies = 0;
  private tables = new Map<string, string[]>();
  private rejection: string | undefined;

  /** A table someone else owns, with its body lines. */
  seedTable(familyAndName: string, body: readonly string[]): void {
    this.tables.set(familyAndName, [...body]);
  }

  rejectNext(stderr: string): void {
    this.rejection = stderr;
  }

  async apply(payload: string, family: RulesetFamily = 'inet'): Promise<void> {
    if (family !== 'inet') throw new GatewayError(ErrorCodes.INTERNAL, `an ${family} iptables ruleset cannot be applied with the nftables backend`);
    if (this.rejection !== undefined) {
      const stderr = this.rejection;
      this.rejection = undefined;
      throw failure(stderr);
    }
    const next = new Map([...this.tables].map(([k, v]) => [k, [...v]]));
    const lines = payload.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? '').trim();
      if (line === '' || line.startsWith('#')) continue;
      const del = /^delete table (\w+) (\w+)$/.exec(line);
      if (del) {
        const key = `${del[1]} ${del[2]}`;
        if (!next.delete(key)) throw failure(`Error: No such file or directory; did you mean table '${key}'?`);
        continue;
      }
      const open = /^table (\w+) (\w+)( \{)?$/.exec(line);
      if (!open) throw failure(`line ${i + 1}: syntax error: ${JSON.stringify(line)}`);
      const key = `${open[1]} ${open[2]}`;
      const body = next.get(key) ?? [];
      next.set(key, body);
      if (!open[3]) continue;
      let depth = 1;
      for (i++; i < lines.length; i++) {
        const inner = (lines[i] ?? '').trim();
        depth += (inner.match(/\{/g) ?? []).length - (inner.match(/\}/g) ?? []).length;
        if (depth === 0) break;
        if (inner !== '') body.push(inner);
      }
      if (depth !== 0) throw failure(`syntax error, unexpected end of file in table ${key}`);
    }
    this.tables = next;
    this.applies++;
  }

  /** Like `nft list ruleset`, tables in name order, body lines as given, re-indented. */
  dump(): string {
    return [...this.tables.keys()]
      .sort()
      .map((key) => {
        let depth = 1;
        const body = (this.tables.get(key) ?? []).map((l) => {
          if (l.startsWith('}')) depth--;
          const out = `${'\t'.repeat(depth)}${l}`;
          if (l.endsWith('{')) depth++;
          return out;
        });
        return [`table ${key} {`, ...body, '}', ''].join('\n');
      })
      .join('');
  }
}

function failure(stderr: string): GatewayError {
  return new GatewayError(ErrorCodes.NETFILTER_APPLY_FAILED, `applying the ruleset with nft -f -: exit status 1, nothing applied: ${stderr}`);
}
