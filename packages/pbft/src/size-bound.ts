/**
 * How large a NEW-VIEW can get. §4.4's NEW-VIEW carries a quorum of VIEW-CHANGEs, each with a
 * prepared certificate (a pre-prepare and its PREPAREs) for every seq above its stable checkpoint
 * — up to the watermark window L — so it grows as L·n². A deployment whose worst case exceeds what its
 * transport carries in one frame could start a view change it can never finish: the frame is
 * dropped, every time. This measures the worst case with the real codec, so a configuration can
 * be refused before it runs.
 */
import type { NodeId } from '@phalanx/interface';
import { pbftCodec } from './messages.js';
import type { NewViewMsg, PrePrepareRef, ViewChangeMsg, VoterSig } from './messages.js';

export interface NewViewBoundOptions {
  /** The validators' ids (their lengths count). */
  readonly ids: readonly NodeId[];
  /** The watermark window L (PBFT's default: twice the checkpoint interval). */
  readonly watermarkWindow: number;
  /** Bytes per signature: 64 for Ed25519 (default); ML-DSA-44 is 2,420. */
  readonly signatureBytes?: number;
  /** Bytes per batch digest. Default 32 (SHA-256). */
  readonly digestBytes?: number;
}

/**
 * The encoded size, in bytes, of the largest NEW-VIEW this configuration can produce. Counted
 * generously: a prepared certificate keeps every PREPARE collected (up to n−1, not 2f: they often
 * arrive before the pre-prepare), a checkpoint proof up to n votes, and a quorum of VIEW-CHANGEs
 * up to n of them (with uneven voting power, or n ≠ 3f+1, a quorum is more than 2f+1).
 */
export function newViewSizeBound(o: NewViewBoundOptions): number {
  const n = o.ids.length;
  const sig = new Uint8Array(o.signatureBytes ?? 64).fill(0xff);
  const digest = new Uint8Array(o.digestBytes ?? 32).fill(0xff);
  // The longest ids and the largest numbers (view, seq near 2^64) make every field its widest.
  const longest = [...o.ids].sort((a, b) => b.length - a.length);
  const voters = (k: number): VoterSig[] => Array.from({ length: k }, (_, i) => ({ voter: longest[i % n]!, signature: sig }));
  const big = (1n << 64n) - 1n;
  const ref = (i: number): PrePrepareRef => ({ view: big, seq: big - BigInt(i), digest, signature: sig });
  const vc: ViewChangeMsg = {
    type: 'view-change',
    replica: longest[0]!,
    newView: big,
    stable: { seq: big, digest, votes: voters(n) },
    prepared: Array.from({ length: o.watermarkWindow }, (_, i) => ({ prePrepare: ref(i), prepares: voters(n - 1) })),
    signature: sig,
  };
  const nv: NewViewMsg = {
    type: 'new-view',
    view: big,
    viewChanges: Array.from({ length: n }, () => vc),
    prePrepares: Array.from({ length: o.watermarkWindow }, (_, i) => ref(i)),
    signature: sig,
  };
  return pbftCodec.encode(nv).length;
}
