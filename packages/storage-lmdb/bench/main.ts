/**
 * Durable appends of 100-byte entries at 1, 10, 100 and 1000 entries per sync, for every engine
 * we considered (lmdb, classic-level/LevelDB) and for this adapter, each beside raw `fs` appends
 * + fdatasync measured in the same run (the ceiling: nothing durable can beat one write + one
 * fdatasync per batch). Plus group commit: 100 concurrent callers syncing one entry each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { open } from 'lmdb';
import { measureAsync, quick, sized, writeRecords } from '@phalanx/bench-kit';
import type { BenchRecord } from '@phalanx/bench-kit';
import { openLmdbStorage } from '../src/index.js';

const ENTRY = 100;
const BATCHES = [1, 10, 100, 1000];
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'phalanx-storage-bench-'));
const value = Buffer.alloc(ENTRY, 0x5a);
const key = (i: number): Buffer => {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(BigInt(i));
  return k;
};
const opts = (batch: number): { minTimeMs: number; warmupMs: number; batch: number; opsPerCall: number } => ({
  minTimeMs: sized(60, 1500),
  warmupMs: sized(10, 150),
  batch: 1,
  opsPerCall: batch,
});
let dirs = 0;
const dir = (): string => path.join(root, String(dirs++));

async function rawFs(batch: number): Promise<number> {
  const file = dir();
  const fd = fs.openSync(file, 'a');
  const buf = Buffer.alloc(ENTRY * batch, 0x5a);
  const m = await measureAsync(async () => {
    fs.writeSync(fd, buf);
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
  }, opts(batch));
  fs.closeSync(fd);
  return m.opsPerSec;
}

async function rawLmdb(batch: number): Promise<number> {
  const env = open({ path: dir(), noSubdir: false, overlappingSync: false, encoding: 'binary' });
  const db = env.openDB<Buffer, Buffer>({ name: 'log', keyEncoding: 'binary', encoding: 'binary' });
  let next = 0;
  const m = await measureAsync(async () => {
    await db.transaction(() => {
      for (let j = 0; j < batch; j++) void db.put(key(next++), value);
    });
  }, opts(batch));
  await env.close();
  return m.opsPerSec;
}

async function rawLevel(batch: number): Promise<number> {
  const db = new ClassicLevel<Buffer, Buffer>(dir(), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  let next = 0;
  const m = await measureAsync(async () => {
    const ops = [];
    for (let j = 0; j < batch; j++) ops.push({ type: 'put' as const, key: key(next++), value });
    await db.batch(ops, { sync: true });
  }, opts(batch));
  await db.close();
  return m.opsPerSec;
}

async function adapter(batch: number): Promise<number> {
  const st = await openLmdbStorage({ path: dir() });
  let next = 1n;
  const m = await measureAsync(async () => {
    const records = [];
    for (let j = 0; j < batch; j++) records.push({ index: next++, data: value });
    st.append(records);
    await st.sync();
  }, opts(batch));
  await st.close();
  return m.opsPerSec;
}

async function adapterConcurrent(callers: number): Promise<number> {
  const st = await openLmdbStorage({ path: dir() });
  let next = 1n;
  const m = await measureAsync(async () => {
    const all: Promise<void>[] = [];
    for (let c = 0; c < callers; c++) {
      st.append([{ index: next++, data: value }]);
      all.push(st.sync());
    }
    await Promise.all(all);
  }, opts(callers));
  await st.close();
  return m.opsPerSec;
}

const records: BenchRecord[] = [];
const params = (batch: number): Record<string, number | boolean> => ({ batch, entryBytes: ENTRY, quick: quick() });
try {
  for (const batch of BATCHES) {
    const ceiling = { name: 'raw fs write + fdatasync', value: await rawFs(batch), unit: 'entries/s' };
    const add = (name: string, v: number, claim?: string): void => {
      records.push({ suite: 'storage/durable-append', name, value: v, unit: 'entries/s', params: params(batch), ceiling, better: 'higher', ...(claim ? { claim } : {}) });
    };
    add('raw fs write + fdatasync', ceiling.value);
    add('lmdb 3.5.6 (txn per batch, overlappingSync off)', await rawLmdb(batch), batch === 100 ? 'DESIGN §7: ≈130k entries/s at 100 per sync' : undefined);
    add('classic-level 3.0.0 (batch, sync: true)', await rawLevel(batch), batch === 100 ? 'DESIGN §7: ≈55k entries/s at 100 per sync' : undefined);
    add('@phalanx/storage-lmdb append + sync', await adapter(batch), batch === 100 ? 'target ≥ 50,000 entries/s at 100 per sync' : undefined);
  }
  const callers = 100;
  records.push({
    suite: 'storage/group-commit',
    name: '@phalanx/storage-lmdb, 100 concurrent callers, 1 entry + sync() each',
    value: await adapterConcurrent(callers),
    unit: 'entries/s',
    params: { callers, entryBytes: ENTRY, quick: quick() },
    ceiling: { name: 'raw fs write + fdatasync, 100 entries per sync', value: records.find((r) => r.params.batch === 100)!.ceiling!.value, unit: 'entries/s' },
    better: 'higher',
  });
  writeRecords('@phalanx/storage-lmdb', records);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
