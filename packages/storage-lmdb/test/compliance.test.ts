import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runStorageCompliance } from '@phalanx/compliance';
import { openLmdbStorage } from '../src/index.js';

runStorageCompliance('storage-lmdb', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phalanx-lmdb-'));
  return {
    open: (identity) => openLmdbStorage({ path: dir, identity }),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});
