import { describe, expect, it } from 'vitest';
import { runStorageCompliance } from '@phalanx/compliance';
import { StorageError, StorageFullError } from '@phalanx/interface';
import { MemoryDisk, openMemoryStorage } from '../src/index.js';

runStorageCompliance('storage-memory', () => {
  const disk = new MemoryDisk();
  return { open: (identity) => openMemoryStorage({ disk, identity }) };
});

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('MemoryStorage crash model', () => {
  it('crash() drops everything not synced; reopening shows exactly the synced state', async () => {
    const disk = new MemoryDisk();
    const st = openMemoryStorage({ disk });
    st.append([{ index: 1n, data: b('a') }]);
    st.putHardState('vote', b('1'));
    await st.sync();
    st.append([{ index: 2n, data: b('b') }]);
    st.putHardState('vote', b('2'));
    st.kv.put(b('k'), b('v'));
    expect(st.pendingWrites).toBe(3);
    st.crash();
    expect(() => st.append([{ index: 3n, data: b('c') }])).toThrow(StorageError);
    const again = openMemoryStorage({ disk });
    expect(again.logBounds()).toEqual({ first: 1n, last: 1n });
    expect(await again.getHardState('vote')).toEqual(b('1'));
    expect(await again.kv.get(b('k'))).toBeUndefined();
    expect(disk.syncs).toBe(1);
  });

  it('disk.crash() crashes whichever storage is open on it', async () => {
    const disk = new MemoryDisk();
    const st = openMemoryStorage({ disk });
    st.putHardState('x', b('1'));
    disk.crash();
    await expect(st.sync()).rejects.toThrow(/crashed/);
    expect(await openMemoryStorage({ disk }).getHardState('x')).toBeUndefined();
  });

  it('opening a disk again kills the previous handle (one process per data dir)', async () => {
    const disk = new MemoryDisk();
    const first = openMemoryStorage({ disk });
    openMemoryStorage({ disk });
    await expect(first.sync()).rejects.toThrow(StorageError);
  });

  it('a full disk fails the sync with StorageFullError, stops writes and keeps what was stored', async () => {
    const disk = new MemoryDisk({ capacity: 1000 });
    const st = openMemoryStorage({ disk });
    st.append([{ index: 1n, data: new Uint8Array(500) }]);
    await st.sync();
    st.append([{ index: 2n, data: new Uint8Array(600) }]);
    await expect(st.sync()).rejects.toThrow(StorageFullError);
    await expect(st.sync()).rejects.toThrow(StorageError);
    expect(() => st.append([{ index: 3n, data: b('x') }])).toThrow(StorageError);
    st.crash();
    const again = openMemoryStorage({ disk });
    expect(again.logBounds()).toEqual({ first: 1n, last: 1n });
    expect((await again.readLog(1n, 2n))[0]!.data.length).toBe(500);
  });

  it('an injected I/O fault fails the sync with StorageError (not StorageFullError)', async () => {
    const disk = new MemoryDisk();
    const st = openMemoryStorage({ disk });
    st.append([{ index: 1n, data: b('a') }]);
    disk.injectFault('io');
    const err = await st.sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).not.toBeInstanceOf(StorageFullError);
    const again = openMemoryStorage({ disk });
    expect(again.logBounds()).toBeUndefined();
  });

  it('a full disk also fails a snapshot commit', async () => {
    const disk = new MemoryDisk({ capacity: 100 });
    const st = openMemoryStorage({ disk });
    const w = await st.snapshots.begin({ height: 1n, digest: b('d') });
    await w.write(new Uint8Array(200));
    await expect(w.commit()).rejects.toThrow(StorageFullError);
    expect(await openMemoryStorage({ disk }).snapshots.latest()).toBeUndefined();
  });
});
