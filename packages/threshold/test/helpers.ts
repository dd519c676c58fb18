import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex } from '@phalanx/codec';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface BlsVector {
  readonly file: string;
  readonly tcId: number;
  readonly dst: string;
  readonly publicKey: Uint8Array;
  readonly msg: Uint8Array;
  readonly sig: Uint8Array;
  readonly valid: boolean;
  readonly flags: readonly string[];
}

interface WycheproofFile {
  readonly header: readonly string[];
  readonly testGroups: readonly {
    readonly ciphersuite: string;
    readonly publicKey: { readonly pk: string };
    readonly tests: readonly { tcId: number; msg: string; sig: string; result: string; flags: string[] }[];
  }[];
}

/** Vectors read in place from the shared checkout (never copied). */
export function loadBlsVectors(file: string): { header: string; vectors: BlsVector[] } {
  const data = JSON.parse(readFileSync(path.resolve(repoRoot, '../shared/vectors/wycheproof', file), 'utf8')) as WycheproofFile;
  const vectors: BlsVector[] = [];
  for (const g of data.testGroups) {
    for (const t of g.tests) {
      vectors.push({
        file,
        tcId: t.tcId,
        dst: g.ciphersuite,
        publicKey: fromHex(g.publicKey.pk),
        msg: fromHex(t.msg),
        sig: fromHex(t.sig),
        valid: t.result === 'valid',
        flags: t.flags,
      });
    }
  }
  return { header: data.header.join(' '), vectors };
}
