/** Block hashing and the genesis block. */
import type { Hasher } from '@phalanx/interface';
import { encode, signingBytes } from '@phalanx/codec';
import { sha256 } from '@noble/hashes/sha2.js';
import { commandsToValue, headerToValue } from './codec.js';
import type { Block, QuorumCert } from './types.js';

/** SHA-256 (DESIGN §5: SHA-256 on the hot path) from @noble/hashes: pure JS, so the core stays sans-I/O. */
export const sha256Hasher: Hasher = { algorithm: 'sha256', digest: (data) => sha256(data) };

export function commandsDigest(hasher: Hasher, b: Block): Uint8Array {
  return hasher.digest(encode(commandsToValue(b.commands)));
}

/** hash(b) = H(header), header = all fields with the commands replaced by their digest. */
export function blockHash(hasher: Hasher, b: Block): Uint8Array {
  return blockHashParts(hasher, b).hash;
}

/** The block hash and the commands digest inside it (computed once, both needed by the tree). */
export function blockHashParts(hasher: Hasher, b: Block): { hash: Uint8Array; cmdDigest: Uint8Array } {
  const cmdDigest = commandsDigest(hasher, b);
  return { hash: hasher.digest(encode(headerToValue(b, cmdDigest))), cmdDigest };
}

export function genesisHash(hasher: Hasher, chainId: string): Uint8Array {
  return hasher.digest(signingBytes('phalanx/hotstuff/genesis/v1', chainId, null));
}

/** The QC every chain starts from: view 0, height 0, no signatures (HotStuff §4.1: b0 with qc0). */
export function genesisQC(hasher: Hasher, chainId: string): QuorumCert {
  return { view: 0n, height: 0n, block: genesisHash(hasher, chainId), sig: new Uint8Array(0) };
}

export function genesisBlock(hasher: Hasher, chainId: string): Block {
  const qc = genesisQC(hasher, chainId);
  return { parent: new Uint8Array(32), height: 0n, view: 0n, proposer: '', justify: qc, election: new Uint8Array(0), commands: [] };
}

export function isGenesisQC(qc: QuorumCert, genesis: QuorumCert): boolean {
  if (qc.view !== 0n || qc.height !== 0n || qc.sig.length !== 0) return false;
  const a = qc.block;
  const b = genesis.block;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
