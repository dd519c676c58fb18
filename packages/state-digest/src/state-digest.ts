import { bytesEqual, compareBytes } from '@phalanx/codec';
import { ArgumentError } from '@phalanx/interface';
import { EMPTY_ROOT, leafHash, pathOf, rootFromProof, rootOf } from './merkle.js';
import type { Hash, InclusionProof } from './merkle.js';

export type Entry = readonly [key: Uint8Array, value: Uint8Array];

/** Bytewise order, shorter first on a common prefix (the order every replica must agree on). */
export const compareKeys: (a: Uint8Array, b: Uint8Array) => number = compareBytes;

/** The digest of a whole state given as key/value pairs in any order. Duplicate keys are an `ArgumentError`. */
export function stateDigest(entries: Iterable<Entry>): Hash {
  const sorted = [...entries].sort((x, y) => compareKeys(x[0], y[0]));
  for (let i = 1; i < sorted.length; i++) {
    if (compareKeys(sorted[i - 1]![0], sorted[i]![0]) === 0) throw new ArgumentError('entries', 'stateDigest: duplicate key');
  }
  return rootOf(sorted.map(([k, v]) => leafHash(k, v)));
}

/** `stateDigest` over an async source, e.g. `storage.kv.range(start, end)` from @phalanx/interface. */
export async function stateDigestAsync(entries: AsyncIterable<Entry>): Promise<Hash> {
  const all: Entry[] = [];
  for await (const e of entries) all.push(e);
  return stateDigest(all);
}

/** Proves `key` is absent: its neighbours in key order, each with an inclusion proof. */
export interface AbsenceProof {
  readonly size: number;
  readonly left?: { readonly key: Uint8Array; readonly value: Uint8Array; readonly proof: InclusionProof };
  readonly right?: { readonly key: Uint8Array; readonly value: Uint8Array; readonly proof: InclusionProof };
}

/**
 * A key/value map that keeps its Merkle root. Leaf hashes are cached, so `set` costs one hash
 * plus a sorted insert; `root()` rehashes the inner nodes (n − 1 hashes) only after changes.
 */
export class MerkleMap {
  private keys: Uint8Array[] = [];
  private values: Uint8Array[] = [];
  private leaves: Hash[] = [];
  private cachedRoot: Hash | undefined = EMPTY_ROOT;

  /** Later entries win over earlier ones with the same key, as with repeated `set`. */
  constructor(entries: Iterable<Entry> = []) {
    // Sort once and build the arrays directly: n sorted inserts would move O(n²) elements.
    const all = [...entries].map(([k, v], i) => ({ k, v, i }));
    all.sort((x, y) => compareKeys(x.k, y.k) || x.i - y.i);
    for (let j = 0; j < all.length; j++) {
      const e = all[j]!;
      if (j + 1 < all.length && compareKeys(e.k, all[j + 1]!.k) === 0) continue; // a later one wins
      const k = e.k.slice();
      const v = e.v.slice();
      this.keys.push(k);
      this.values.push(v);
      this.leaves.push(leafHash(k, v));
    }
    this.cachedRoot = undefined;
  }

  get size(): number {
    return this.keys.length;
  }

  /** Position of `key`, or -(insertion point) - 1. */
  private find(key: Uint8Array): number {
    let lo = 0;
    let hi = this.keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(this.keys[mid]!, key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const i = this.find(key);
    return i >= 0 ? this.values[i]!.slice() : undefined;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    const k = key.slice();
    const v = value.slice();
    const i = this.find(k);
    const h = leafHash(k, v);
    if (i >= 0) {
      this.values[i] = v;
      this.leaves[i] = h;
    } else {
      const at = -i - 1;
      this.keys.splice(at, 0, k);
      this.values.splice(at, 0, v);
      this.leaves.splice(at, 0, h);
    }
    this.cachedRoot = undefined;
  }

  delete(key: Uint8Array): boolean {
    const i = this.find(key);
    if (i < 0) return false;
    this.keys.splice(i, 1);
    this.values.splice(i, 1);
    this.leaves.splice(i, 1);
    this.cachedRoot = undefined;
    return true;
  }

  *entries(): IterableIterator<Entry> {
    for (let i = 0; i < this.keys.length; i++) yield [this.keys[i]!.slice(), this.values[i]!.slice()];
  }

  root(): Hash {
    this.cachedRoot ??= rootOf(this.leaves);
    return this.cachedRoot.slice();
  }

  /** Inclusion proof for `key`, or `undefined` if it is absent (then use `proveAbsence`). */
  prove(key: Uint8Array): InclusionProof | undefined {
    const i = this.find(key);
    if (i < 0) return undefined;
    return { index: i, size: this.keys.length, path: pathOf(this.leaves, i) };
  }

  /** Absence proof for `key`, or `undefined` if it is present. */
  proveAbsence(key: Uint8Array): AbsenceProof | undefined {
    const i = this.find(key);
    if (i >= 0) return undefined;
    const at = -i - 1;
    const side = (j: number): AbsenceProof['left'] =>
      j < 0 || j >= this.keys.length
        ? undefined
        : { key: this.keys[j]!.slice(), value: this.values[j]!.slice(), proof: { index: j, size: this.keys.length, path: pathOf(this.leaves, j) } };
    const left = side(at - 1);
    const right = side(at);
    return { size: this.keys.length, ...(left ? { left } : {}), ...(right ? { right } : {}) };
  }
}

/** True when `proof` shows `key` ↦ `value` is in the state whose digest is `root`. */
export function verifyInclusion(root: Hash, key: Uint8Array, value: Uint8Array, proof: InclusionProof): boolean {
  // Proofs arrive from other machines: a wrongly shaped one is a false, never a TypeError.
  if (!(root instanceof Uint8Array) || !(key instanceof Uint8Array) || !(value instanceof Uint8Array)) return false;
  if (typeof proof !== 'object' || proof === null || !Array.isArray(proof.path)) return false;
  const got = rootFromProof(leafHash(key, value), proof);
  return got !== undefined && bytesEqual(got, root);
}

/** True when `proof` shows `key` is not in the state whose digest is `root`. */
export function verifyAbsence(root: Hash, key: Uint8Array, proof: AbsenceProof): boolean {
  if (typeof proof !== 'object' || proof === null || !(key instanceof Uint8Array) || !(root instanceof Uint8Array)) return false;
  const { size, left, right } = proof;
  if (!Number.isSafeInteger(size) || size < 0) return false;
  const wellFormed = (n: AbsenceProof['left']): boolean =>
    n === undefined || (typeof n === 'object' && n !== null && n.key instanceof Uint8Array && typeof n.proof === 'object' && n.proof !== null);
  if (!wellFormed(left) || !wellFormed(right)) return false;
  if (size === 0) return !left && !right && bytesEqual(root, EMPTY_ROOT);
  if (left) {
    if (left.proof.size !== size || compareKeys(left.key, key) >= 0) return false;
    if (!verifyInclusion(root, left.key, left.value, left.proof)) return false;
  }
  if (right) {
    if (right.proof.size !== size || compareKeys(key, right.key) >= 0) return false;
    if (!verifyInclusion(root, right.key, right.value, right.proof)) return false;
  }
  // The neighbours must be adjacent leaves, or the key falls off one end of the sorted order.
  if (left && right) return right.proof.index === left.proof.index + 1;
  if (left) return left.proof.index === size - 1;
  if (right) return right.proof.index === 0;
  return false;
}
