import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SeqReservation, SeqReservationError, seqFloor } from '../src/seq-reservation.js';

const renameReal = fs.rename.bind(fs);
const NOW = 1_800_000_000_000; // ms
const CLOCK = BigInt(NOW) * 1000n; // µs

describe('seqFloor', () => {
  it('is above the clock in microseconds and above every seq known to be used', () => {
    expect(seqFloor([], NOW)).toBe(CLOCK);
    expect(seqFloor([undefined, 5n], NOW)).toBe(CLOCK);
    expect(seqFloor([CLOCK], NOW)).toBe(CLOCK + 1n);
    expect(seqFloor([CLOCK + 7n, CLOCK + 3n], NOW)).toBe(CLOCK + 8n);
  });
});

describe('SeqReservation', () => {
  const fresh = () => path.join(mkdtempSync(path.join(tmpdir(), 'phalanx-seq-')), 'local-client-seq');

  it('starts a run above the last run\'s reservation even with the clock set back, and reserves before use', async () => {
    const file = fresh();
    const first = new SeqReservation(file, { block: 10n, now: () => NOW });
    expect(await first.start(undefined)).toBe(CLOCK);
    expect(readFileSync(file, 'utf8')).toBe(`{"next":"${CLOCK + 10n}"}\n`);
    await Promise.all([first.cover(0), first.cover(9)]);
    expect(readFileSync(file, 'utf8')).toBe(`{"next":"${CLOCK + 10n}"}\n`); // within the block: no write
    await Promise.all([first.cover(10), first.cover(25), first.cover(11)]);
    expect(BigInt(/"(\d+)"/.exec(readFileSync(file, 'utf8'))![1]!)).toBeGreaterThan(CLOCK + 25n);
    // Restart with the clock an hour behind and a replica that executed nothing of ours: the run
    // starts above everything the last one may have used.
    const second = new SeqReservation(file, { block: 10n, now: () => NOW - 3_600_000 });
    const reserved = BigInt(/"(\d+)"/.exec(readFileSync(file, 'utf8'))![1]!);
    expect(await second.start(undefined)).toBe(reserved);
    // What the replica executed counts too (a file restored from an old backup).
    const third = new SeqReservation(file, { block: 10n, now: () => NOW - 3_600_000 });
    expect(await third.start(reserved + 100n)).toBe(reserved + 101n);
  });

  it('without a file (memory storage) goes by the clock and what executed', async () => {
    const r = new SeqReservation(undefined, { block: 10n, now: () => NOW });
    expect(await r.start(CLOCK + 4n)).toBe(CLOCK + 5n);
    await r.cover(1_000);
  });

  it('refuses a reservation file it cannot read rather than guess', async () => {
    const file = fresh();
    writeFileSync(file, 'garbage');
    await expect(new SeqReservation(file).start(undefined)).rejects.toBeInstanceOf(SeqReservationError);
    await expect(new SeqReservation(file).start(undefined)).rejects.toThrow(/local-client-seq: not a seq reservation/);
  });

  it('refuses a reservation with no room left below 2^64 (seqs are u64 on the wire)', async () => {
    const file = fresh();
    writeFileSync(file, `{"next":"${(1n << 64n) - 5n}"}\n`);
    await expect(new SeqReservation(file, { block: 10n }).start(undefined)).rejects.toThrow(/no room below 2\^64/);
    writeFileSync(file, '{"next":"99999999999999999999"}\n');
    await expect(new SeqReservation(file).start(undefined)).rejects.toBeInstanceOf(SeqReservationError);
  });

  it('makes a reservation durable before it counts: synced aside, renamed over, directory synced', async () => {
    const file = fresh();
    const steps: string[] = [];
    const open = fs.open.bind(fs);
    const spies = [
      vi.spyOn(fs, 'open').mockImplementation(async (p, flags) => {
        const h = await open(p, flags);
        const sync = h.sync.bind(h);
        h.sync = async () => (steps.push(`sync ${path.basename(String(p))}`), sync());
        steps.push(`open ${path.basename(String(p))} ${String(flags)}`);
        return h;
      }),
      vi.spyOn(fs, 'rename').mockImplementation(async (a, b) => {
        steps.push(`rename ${path.basename(String(a))} ${path.basename(String(b))}`);
        return renameReal(a, b);
      }),
    ];
    try {
      await new SeqReservation(file, { block: 10n, now: () => NOW }).start(undefined);
    } finally {
      for (const s of spies) s.mockRestore();
    }
    const dir = path.basename(path.dirname(file));
    expect(steps).toEqual([
      'open local-client-seq.tmp w',
      'sync local-client-seq.tmp',
      'rename local-client-seq.tmp local-client-seq',
      `open ${dir} r`,
      `sync ${dir}`,
    ]);
    expect(readFileSync(file, 'utf8')).toBe(`{"next":"${CLOCK + 10n}"}\n`);
  });

  it('needs start() before cover()', async () => {
    await expect(new SeqReservation(undefined).cover(0)).rejects.toThrow(/start\(\) first/);
  });
});
