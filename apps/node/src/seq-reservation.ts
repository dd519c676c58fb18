/**
 * Durable sequence numbers for a node's local client (the HTTP API). Its id is the same after every
 * restart, so a new run must number its commands above every seq an earlier run used, or the
 * replicas answer a new command with an old one's result. The clock alone is not enough (it can be
 * set back), nor is what the node's own replica executed (it may not have applied the last run's
 * commands yet). So seqs are reserved in blocks, durably, before any of them is used: a run starts
 * above the last reservation, whatever the clock says.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PhalanxError } from '@phalanx/interface';

/** The reservation file is unreadable or names no seq: refuse to guess (a guess may reuse seqs). */
export class SeqReservationError extends PhalanxError {
  constructor(file: string, detail: string) {
    super('SEQ_RESERVATION', `${file}: ${detail}; it records the highest sequence number the node's API may have used — restore it, or move it away if this node's local client never ran on this network`);
  }
}

/** The first seq: above the clock in microseconds and above every seq known to be used. */
export function seqFloor(used: readonly (bigint | undefined)[], nowMs = Date.now()): bigint {
  let floor = BigInt(Math.floor(nowMs)) * 1000n;
  for (const u of used) if (u !== undefined && u >= floor) floor = u + 1n;
  return floor;
}

export interface SeqReservationOptions {
  /** Seqs reserved per durable write. Default 1,000,000 (a write per million commands). */
  readonly block?: bigint;
  /** The clock, in ms (tests). */
  readonly now?: () => number;
}

const U64_MAX = (1n << 64n) - 1n;

export class SeqReservation {
  private readonly block: bigint;
  private readonly now: () => number;
  /** Every seq below this is reserved durably (or, without a file, by the clock alone). */
  private reservedTo = 0n;
  private first: bigint | undefined;
  private writing: Promise<void> | undefined;

  /** `file` undefined: nothing durable to keep (memory storage); the clock and `executed` decide. */
  constructor(
    private readonly file: string | undefined,
    opts: SeqReservationOptions = {},
  ) {
    this.block = opts.block ?? 1_000_000n;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The run's first seq: above the clock, above the last run's reservation and above `executed`
   * (the highest seq the node's replica executed for this client), with the first block reserved
   * on disk before it returns.
   */
  async start(executed: bigint | undefined): Promise<bigint> {
    const last = await this.read();
    const first = seqFloor([last === undefined ? undefined : last - 1n, executed], this.now());
    this.first = first;
    await this.reserve(first + this.block);
    return first;
  }

  /** Resolves once `seq` (this run's `index`-th, counting from 0) is covered by a durable reservation. */
  async cover(index: number): Promise<void> {
    if (this.first === undefined) throw new Error('SeqReservation: start() first');
    const seq = this.first + BigInt(index);
    while (seq >= this.reservedTo) {
      // One write at a time; callers past the block wait for the next one, which reaches past them.
      if (this.writing) await this.writing;
      else if (seq >= this.reservedTo) await this.reserve(seq + this.block);
    }
  }

  private async read(): Promise<bigint | undefined> {
    if (!this.file) return undefined;
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const m = /^\{"next":"(\d{1,20})"\}\n?$/.exec(text);
    if (!m) throw new SeqReservationError(this.file, 'not a seq reservation');
    const next = BigInt(m[1]!);
    // Seqs are u64 on the wire, and a run needs room above the reservation.
    if (next > U64_MAX - this.block) throw new SeqReservationError(this.file, `reservation ${next} leaves no room below 2^64`);
    return next;
  }

  /** Records durably that seqs below `to` may be used: written aside, synced, renamed, directory synced. */
  private async reserve(to: bigint): Promise<void> {
    const file = this.file;
    const run = (async () => {
      if (file) {
        const tmp = `${file}.tmp`;
        const h = await fs.open(tmp, 'w');
        try {
          await h.writeFile(`{"next":"${to}"}\n`);
          await h.sync();
        } finally {
          await h.close();
        }
        await fs.rename(tmp, file);
        const dir = await fs.open(path.dirname(file), 'r');
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      }
      this.reservedTo = to;
    })();
    this.writing = run;
    try {
      await run;
    } finally {
      this.writing = undefined;
    }
  }
}
