import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError, StorageError, StorageFullError } from '@phalanx/interface';
import { crc32c, openLmdbStorage, STORAGE_FORMAT } from '../src/index.js';
import { seal } from '../src/records.js';
import { open as openEnv } from 'lmdb';
import { ensureBuilt, fixture, tempDir } from './helpers.js';

const dirs: string[] = [];
const newDir = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Flips one byte inside every stored copy of `marker` in data.mdb (LMDB may keep old pages). */
function corrupt(dir: string, marker: Buffer): number {
  const file = path.join(dir, 'data.mdb');
  const bytes = fs.readFileSync(file);
  let hits = 0;
  for (let at = bytes.indexOf(marker); at >= 0; at = bytes.indexOf(marker, at + 1)) {
    bytes[at + marker.length - 1] = bytes[at + marker.length - 1]! ^ 0x01;
    hits++;
  }
  fs.writeFileSync(file, bytes);
  return hits;
}

describe('crc32c', () => {
  it('matches the standard check value and chains', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234')))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });

  it('computes exactly what format 1 stored (the table implementation it replaced)', () => {
    // Data directories written before the switch must still verify: compare with the reference.
    const table = Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      return c >>> 0;
    });
    const reference = (data: Uint8Array, previous = 0): number => {
      let crc = ~previous >>> 0;
      for (const b of data) crc = table[(crc ^ b) & 0xff]! ^ (crc >>> 8);
      return ~crc >>> 0;
    };
    let seed = 12345;
    for (let len = 0; len < 300; len += 7) {
      const data = Uint8Array.from({ length: len }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
      const prev = seed >>> 0;
      expect(crc32c(data)).toBe(reference(data));
      expect(crc32c(data, prev)).toBe(reference(data, prev));
      expect(crc32c(data.subarray(3))).toBe(reference(data.subarray(3)));
    }
  });
});

describe('LmdbStorage on-disk format', () => {
  /** Rewrites the format marker of a closed data directory, as another version would have. */
  async function writeMarker(dir: string, value: Buffer): Promise<void> {
    const env = openEnv({ path: dir, encoding: 'binary' });
    const meta = env.openDB<Buffer, Buffer>({ name: 'meta', keyEncoding: 'binary', encoding: 'binary', compression: false });
    await meta.put(Buffer.from('format'), value);
    await env.close();
  }

  it('records its format in every new directory (with or without an identity) and reopens it', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    st.append([{ index: 1n, data: Buffer.from('x') }]);
    await st.sync();
    await st.close();
    expect(fs.readFileSync(path.join(dir, 'data.mdb')).includes(Buffer.from(`{"format":${STORAGE_FORMAT}}`))).toBe(true);
    const again = await openLmdbStorage({ path: dir });
    expect(again.logBounds()).toEqual({ first: 1n, last: 1n });
    await again.close();
  });

  it('refuses a directory of another format with a clear error, before reading anything else', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    st.append([{ index: 1n, data: Buffer.from('x') }]);
    await st.sync();
    await st.close();
    const key = Buffer.from('format');
    // A future format may checksum differently: the version must be readable without trusting the CRC.
    await writeMarker(dir, Buffer.concat([Buffer.alloc(4, 0xee), Buffer.from(`{"format":${STORAGE_FORMAT + 1}}`)]));
    const err = await openLmdbStorage({ path: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).not.toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toMatch(new RegExp(`storage format ${STORAGE_FORMAT + 1}, .*reads format ${STORAGE_FORMAT} only`));
    // A marker that is neither a known shape nor checksummed is corruption, not a format question.
    await writeMarker(dir, seal(key, Buffer.from('garbage')).fill(0x11, 0, 4));
    await expect(openLmdbStorage({ path: dir })).rejects.toBeInstanceOf(CorruptionError);
    // The right format with a broken checksum is corruption too.
    await writeMarker(dir, seal(key, Buffer.from(`{"format":${STORAGE_FORMAT}}`)).fill(0, 0, 4));
    await expect(openLmdbStorage({ path: dir })).rejects.toBeInstanceOf(CorruptionError);
    await writeMarker(dir, seal(key, Buffer.from(`{"format":${STORAGE_FORMAT}}`)));
    const ok = await openLmdbStorage({ path: dir });
    expect(ok.logBounds()).toEqual({ first: 1n, last: 1n });
    await ok.close();
  });
});

describe('LmdbStorage single handle per directory', () => {
  it('refuses a second open of a directory that is open in this process, by any path spelling', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    st.append([{ index: 1n, data: Buffer.from('a') }]);
    await st.sync();
    await expect(openLmdbStorage({ path: dir })).rejects.toThrow(/already open in this process/);
    await expect(openLmdbStorage({ path: path.join(dir, '.', '') })).rejects.toThrow(StorageError);
    // The refused attempt changed nothing: the first handle goes on, and after close it reopens.
    st.append([{ index: 2n, data: Buffer.from('b') }]);
    await st.sync();
    await st.close();
    const again = await openLmdbStorage({ path: dir });
    expect(again.logBounds()).toEqual({ first: 1n, last: 2n });
    await again.close();
  });
});

describe('LmdbStorage checksums', () => {
  it('reports a corrupted log tail on open, naming the file and the record', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    for (let i = 1n; i <= 20n; i++) st.append([{ index: i, data: Buffer.from(`record-${i}-${'m'.repeat(24)}`) }]);
    await st.sync();
    await st.close();
    expect(corrupt(dir, Buffer.from(`record-18-${'m'.repeat(24)}`))).toBeGreaterThan(0);
    const err = await openLmdbStorage({ path: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).file).toBe(path.join(dir, 'data.mdb'));
    expect((err as CorruptionError).record).toBe('log 18');
  });

  it('reports a corrupted record outside the verified tail when it is read, and never serves it', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    for (let i = 1n; i <= 50n; i++) st.append([{ index: i, data: Buffer.from(`entry-${i}-${'q'.repeat(24)}`) }]);
    await st.sync();
    await st.close();
    expect(corrupt(dir, Buffer.from(`entry-3-${'q'.repeat(24)}`))).toBeGreaterThan(0);
    const again = await openLmdbStorage({ path: dir, verifyTail: 10 });
    expect((await again.readLog(40n, 51n)).length).toBe(11);
    await expect(again.readLog(1n, 10n)).rejects.toThrow(/data\.mdb \(record log 3\): checksum mismatch/);
    await again.close();
  });

  it('verifies hard state, KV values and snapshot chunks', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    st.putHardState('vote', Buffer.from(`vote-${'h'.repeat(30)}`));
    st.kv.put(Buffer.from('key'), Buffer.from(`value-${'k'.repeat(30)}`));
    await st.sync();
    const w = await st.snapshots.begin({ height: 5n, digest: Buffer.from('d') });
    await w.write(Buffer.from(`chunk-${'s'.repeat(30)}`));
    await w.commit();
    await st.close();

    corrupt(dir, Buffer.from(`value-${'k'.repeat(30)}`));
    corrupt(dir, Buffer.from(`chunk-${'s'.repeat(30)}`));
    const st2 = await openLmdbStorage({ path: dir });
    await expect(st2.kv.get(Buffer.from('key'))).rejects.toThrow(CorruptionError);
    const read = async (): Promise<void> => {
      for await (const _ of st2.snapshots.read()) void _;
    };
    await expect(read()).rejects.toThrow(/record snapshot 1 chunk 0/);
    await st2.close();

    corrupt(dir, Buffer.from(`vote-${'h'.repeat(30)}`));
    await expect(openLmdbStorage({ path: dir })).rejects.toThrow(/record hard vote/);
  });
});

describe('LmdbStorage group commit', () => {
  it('turns many concurrent sync() calls into a few commits', async () => {
    const dir = newDir();
    const st = await openLmdbStorage({ path: dir });
    const before = st.commits;
    const calls: Promise<void>[] = [];
    for (let i = 1n; i <= 300n; i++) {
      st.append([{ index: i, data: Buffer.from(`e${i}`) }]);
      calls.push(st.sync());
    }
    await Promise.all(calls);
    expect(st.commits - before).toBeLessThanOrEqual(2);
    await st.close();
    const again = await openLmdbStorage({ path: dir });
    expect(again.logBounds()).toEqual({ first: 1n, last: 300n });
    await again.close();
  });

  const hasStrace = spawnSync('strace', ['-V']).status === 0;
  it.skipIf(!hasStrace)('fdatasyncs before each sync() resolves (checked with strace)', () => {
    ensureBuilt();
    const dir = newDir();
    const trace = path.join(dir, 'trace.txt');
    execFileSync('strace', ['-f', '-e', 'trace=fdatasync,fsync,msync,write', '-o', trace, process.execPath, fixture('sync-child.mjs'), path.join(dir, 'db')], { stdio: 'pipe' });
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    // After the BEGIN marker the child did 20 sequential sync() calls; each needs its own fdatasync.
    const begin = lines.findIndex((l) => l.includes('BEGIN'));
    expect(begin).toBeGreaterThanOrEqual(0);
    const syncs = lines.slice(begin).filter((l) => /\b(fdatasync|fsync|msync)\(/.test(l) && /= 0$/.test(l.trim())).length;
    expect(syncs).toBeGreaterThanOrEqual(20);
  });
});

describe('LmdbStorage when writes fail', () => {
  beforeAll(ensureBuilt);

  it('a file-size limit (the route to a full disk as root) gives StorageFullError, stops writes, keeps data', async () => {
    const dir = newDir();
    // SIGXFSZ ignored so writes past the limit fail with EFBIG instead of killing the process.
    const out = execFileSync('sh', ['-c', `trap '' XFSZ; ulimit -f 8192; exec "${process.execPath}" "${fixture('full-child.mjs')}" "${dir}"`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'], // lmdb-js logs the failed commit on stderr
    });
    const report = JSON.parse(out.trim().split('\n').pop()!) as Record<string, string>;
    expect(report.error).toBe('StorageFullError');
    expect(report.code).toBe('STORAGE_FULL');
    expect(report.afterSync).toBe('StorageError');
    expect(report.afterAppend).toBe('StorageError');
    const acked = BigInt(report.acked!);
    expect(acked).toBeGreaterThan(0n);
    const st = await openLmdbStorage({ path: dir });
    const b = st.logBounds()!;
    expect(b.first).toBe(1n);
    expect(b.last).toBeGreaterThanOrEqual(acked);
    const all = await st.readLog(1n, b.last + 1n);
    expect(all.length).toBe(Number(b.last));
    for (const r of all) expect(r.data[0]).toBe(Number(r.index % 251n));
    await st.close();
  });

  it('a snapshot that outgrows the disk gives StorageFullError and stops writes (three runs)', () => {
    // The child reports only if it did not crash (see `write` in makeSnapshots for the crashes
    // snapshot pieces on lmdb-js's write thread caused in the real-process full-disk test).
    for (let run = 0; run < 3; run++) {
      const out = execFileSync('sh', ['-c', `trap '' XFSZ; ulimit -f 98304; exec "${process.execPath}" "${fixture('full-snapshot-child.mjs')}" "${newDir()}"`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const report = JSON.parse(out.trim().split('\n').pop()!) as Record<string, string | number>;
      expect(report.stored).toBeGreaterThan(0);
      expect(report.error).toBe('StorageFullError');
      expect(report.afterSync).toBe('StorageError');
    }
  });

  it.skipIf(process.getuid?.() === 0)('a read-only directory gives a StorageError on open', async () => {
    const dir = newDir();
    fs.chmodSync(dir, 0o500);
    try {
      await expect(openLmdbStorage({ path: path.join(dir, 'sub') })).rejects.toThrow(StorageError);
    } finally {
      fs.chmodSync(dir, 0o700);
    }
  });

  it('StorageFullError is a StorageError', () => {
    expect(new StorageFullError('x')).toBeInstanceOf(StorageError);
  });
});
