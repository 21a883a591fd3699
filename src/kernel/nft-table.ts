import { ErrorCodes, GatewayError, kernelError } from '../errors';
import { runCommand } from './exec';
import type { Runner } from './netfilter';

/** One nftables table the caller owns whole: read it back, write it whole (one `nft -f -` transaction). */
export interface OwnedNftTable {
  /** `nft list table` output, or undefined when the table does not exist. */
  read(): Promise<string | undefined>;
  /** Applies `payload` (nft -f syntax) as one transaction; nothing of it applies on failure. */
  write(payload: string): Promise<void>;
}

export class NftTable implements OwnedNftTable {
  constructor(
    private readonly family: string,
    private readonly name: string,
    private readonly run: Runner = runCommand,
  ) {}

  async read(): Promise<string | undefined> {
    const res = await this.exec(['list', 'table', this.family, this.name], `reading nftables table ${this.family} ${this.name}`);
    // nft says "No such file or directory" for a table that does not exist.
    if (res.code !== 0) {
      if (/No such file or directory|does not exist/i.test(res.stderr)) return undefined;
      throw new GatewayError(ErrorCodes.KERNEL_OP_FAILED, `reading nftables table ${this.family} ${this.name}: exit status ${res.code}: ${res.stderr.trim()}`);
    }
    return res.stdout;
  }

  async write(payload: string): Promise<void> {
    const res = await this.exec(['-f', '-'], `writing nftables table ${this.family} ${this.name}`, payload);
    if (res.code !== 0) {
      throw new GatewayError(
        ErrorCodes.NETFILTER_APPLY_FAILED,
        `writing nftables table ${this.family} ${this.name} with nft -f -: exit status ${res.code}, nothing applied: ${res.stderr.trim()}`,
      );
    }
  }

  private async exec(args: string[], doing: string, input?: string): ReturnType<Runner> {
    try {
      return await this.run('nft', args, input === undefined ? {} : { input });
    } catch (err) {
      throw kernelError(`${doing}: nft cannot be started`, err, ErrorCodes.BACKEND_UNAVAILABLE);
    }
  }
}
