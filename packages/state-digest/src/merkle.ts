/**
 * A Merkle tree over key/value pairs sorted by key (bytewise). The root is the application state
 * digest a checkpoint certificate signs; an inclusion proof shows one pair is in the state that
 * root commits to, and an absence proof (two neighbouring leaves) that a key is not.
 *
 * Shape: RFC 6962 §2.1 (Certificate Transparency) — the left subtree holds the largest power of
 * two strictly below n leaves — so a proof is at most ⌈log2 n⌉ hashes and no leaf is duplicated.
 * Domain separation: leaves hash 0x00 ‖ u32be(key length) ‖ key ‖ value, inner nodes 0x01 ‖ l ‖ r,
 * so a leaf can never pass for an inner node (second-preimage) and key/value cannot be re-split.
 * The digest wraps the tree root with the leaf count, 0x03 ‖ u64be(n) ‖ root, because RFC 6962
 * roots do not commit to n: binding it makes a proof's index trustworthy, which absence proofs
 * (two *adjacent* leaves) rely on.
 */
import { createHash } from 'node:crypto';

export type Hash = Uint8Array;

const sha256 = (...parts: Uint8Array[]): Hash => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

const sized = (n: number, root: Hash | undefined): Hash => {
  const head = new Uint8Array(9);
  head[0] = 3;
  new DataView(head.buffer).setBigUint64(1, BigInt(n));
  return root ? sha256(head, root) : sha256(head);
};

/** The digest of the empty state: SHA-256(0x03 ‖ u64be(0)). */
export const EMPTY_ROOT: Hash = sized(0, undefined);

export function leafHash(key: Uint8Array, value: Uint8Array): Hash {
  const head = new Uint8Array(5);
  head[0] = 0;
  new DataView(head.buffer).setUint32(1, key.byteLength);
  return sha256(head, key, value);
}

export function nodeHash(left: Hash, right: Hash): Hash {
  return sha256(new Uint8Array([1]), left, right);
}

/** Largest power of two strictly below n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The state digest over already-hashed leaves in key order. */
export function rootOf(leaves: readonly Hash[]): Hash {
  return leaves.length === 0 ? EMPTY_ROOT : sized(leaves.length, treeRoot(leaves));
}

/** RFC 6962 tree root over leaves (n >= 1). */
function treeRoot(leaves: readonly Hash[]): Hash {
  const go = (lo: number, hi: number): Hash => {
    if (hi - lo === 1) return leaves[lo]!;
    const k = split(hi - lo);
    return nodeHash(go(lo, lo + k), go(lo + k, hi));
  };
  return go(0, leaves.length);
}

export interface InclusionProof {
  /** Position of the leaf among the sorted keys. */
  readonly index: number;
  /** Number of leaves in the tree. */
  readonly size: number;
  /** Sibling hashes from the leaf up to the root. */
  readonly path: readonly Hash[];
}

/** Audit path for leaf `index` (RFC 6962 §2.1.1). */
export function pathOf(leaves: readonly Hash[], index: number): Hash[] {
  const out: Hash[] = [];
  const go = (lo: number, hi: number, m: number): void => {
    if (hi - lo === 1) return;
    const k = split(hi - lo);
    if (m < k) {
      go(lo, lo + k, m);
      out.push(treeRoot(leaves.slice(lo + k, hi)));
    } else {
      go(lo + k, hi, m - k);
      out.push(treeRoot(leaves.slice(lo, lo + k)));
    }
  };
  go(0, leaves.length, index);
  return out;
}

/** Recomputes the root from a leaf hash and its proof; `undefined` if the proof is malformed. */
export function rootFromProof(leaf: Hash, proof: InclusionProof): Hash | undefined {
  const { index, size, path } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined;
  // Walk down to find, level by level, whether our subtree is the left or right child.
  const sides: boolean[] = [];
  let lo = 0;
  let hi = size;
  let m = index;
  while (hi - lo > 1) {
    const k = split(hi - lo);
    if (m < k) {
      sides.push(true); // we are on the left; the sibling is on the right
      hi = lo + k;
    } else {
      sides.push(false);
      lo = lo + k;
      m -= k;
    }
  }
  if (sides.length !== path.length) return undefined;
  let h = leaf;
  for (let i = path.length - 1, j = 0; i >= 0; i--, j++) {
    const sib = path[j]!;
    if (!(sib instanceof Uint8Array) || sib.byteLength !== 32) return undefined;
    h = sides[i]! ? nodeHash(h, sib) : nodeHash(sib, h);
  }
  return sized(size, h);
}
