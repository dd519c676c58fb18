/** Builders for hand-made (possibly Byzantine) messages, signed with a given replica's test key. */
import { expect } from 'vitest';
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, LogRecord, NodeId, Ready } from '@phalanx/interface';
import { encode, signingBytes, utf8 } from '@phalanx/codec';
import { voteSigningBytes } from '@phalanx/quorum';
import {
  KIND_CHECKPOINT,
  KIND_COMMIT,
  KIND_PREPARE,
  KIND_PRE_PREPARE,
  PbftCore,
  SIGN_DOMAIN,
  batchValue,
  pbftCodec,
  sha256,
  signedBody,
} from '../src/index.js';
import type { CheckpointMsg, FetchMsg, NewViewMsg, PbftConfig, PbftMessage, PreparedCert, PrePrepareMsg, StateMsg, ViewChangeMsg, VoteMsg } from '../src/index.js';
import { makeValidators, seededRng, testSigner, testVerifier } from './cluster.js';

export const CHAIN = 'phalanx';
/** The digest of the genesis checkpoint: the stable checkpoint of a VIEW-CHANGE before any. */
export const GENESIS = sha256(encode(['pbft/genesis', CHAIN]));
export const digestOf = (batch: readonly ClientRequest[]): Uint8Array => sha256(encode(batchValue(batch)));
export const req = (seq: number, text = 'x', client = 'c0'): ClientRequest => ({ client, seq: BigInt(seq), payload: utf8.encode(text) });

export function prePrepare(by: NodeId, view: bigint, seq: bigint, batch: readonly ClientRequest[]): PrePrepareMsg {
  const digest = digestOf(batch);
  const signature = testSigner(by).sign(voteSigningBytes(CHAIN, { kind: KIND_PRE_PREPARE, height: seq, round: view, digest }));
  return { type: 'pre-prepare', view, seq, digest, batch, signature };
}

export function vote(type: 'prepare' | 'commit', by: NodeId, view: bigint, seq: bigint, digest: Uint8Array): VoteMsg {
  const kind = type === 'prepare' ? KIND_PREPARE : KIND_COMMIT;
  const signature = testSigner(by).sign(voteSigningBytes(CHAIN, { kind, height: seq, round: view, digest }));
  return { type, voter: by, view, seq, digest, signature };
}

export function checkpoint(by: NodeId, seq: bigint, digest: Uint8Array): CheckpointMsg {
  const signature = testSigner(by).sign(voteSigningBytes(CHAIN, { kind: KIND_CHECKPOINT, height: seq, round: 0n, digest }));
  return { type: 'checkpoint', voter: by, seq, digest, signature };
}

/** Re-signs a non-vote message as `by` (what a Byzantine sender can always do with its own key). */
export function resign<T extends ViewChangeMsg | NewViewMsg | FetchMsg | StateMsg>(by: NodeId, m: T): T {
  const signature = testSigner(by).sign(signingBytes(SIGN_DOMAIN, CHAIN, signedBody(m)));
  return { ...m, signature };
}

/**
 * Decodes `rounds` damaged frames — every other one random bytes when `random`, the rest a valid
 * frame with one byte changed (every third also truncated) — and expects nothing but DecodeError.
 */
export function fuzzDecode(valid: readonly Uint8Array[], seed: number, rounds = 3000, random = true): void {
  const rng = seededRng(seed);
  for (let i = 0; i < rounds; i++) {
    let bytes: Uint8Array;
    if (random && i % 2 === 0) bytes = rng.bytes(rng.nextInt(64));
    else {
      bytes = valid[i % valid.length]!.slice();
      const at = rng.nextInt(bytes.length);
      bytes[at] = rng.nextInt(256);
      if (i % 3 === 0) bytes = bytes.subarray(0, rng.nextInt(bytes.length));
    }
    try {
      pbftCodec.decode(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(DecodeError);
    }
  }
}

/** One core driven by hand: step inputs, collect everything it outputs. */
export class Solo {
  readonly core: PbftCore;
  readonly out: Ready<PbftMessage>[] = [];
  constructor(readonly id: NodeId, n = 4, config: PbftConfig = {}) {
    this.core = new PbftCore(
      { self: id, validators: makeValidators(n), signer: testSigner(id), verifier: testVerifier, rng: seededRng(1) },
      config,
    );
    this.flush();
  }
  flush(): void {
    this.out.push(...drain(this.core));
  }
  msg(from: NodeId, msg: PbftMessage): this {
    this.core.step({ type: 'message', from, msg });
    this.flush();
    return this;
  }
  sent(type: PbftMessage['type']): PbftMessage[] {
    return this.out.flatMap((r) => r.send.map((s) => s.msg)).filter((m) => m.type === type);
  }
  commits(): bigint[] {
    return this.out.flatMap((r) => r.commit.map((b) => b.height));
  }
  events() {
    return this.out.flatMap((r) => r.events);
  }
}

/** Every Ready `core` has now, in order. */
export function drain(core: PbftCore): Ready<PbftMessage>[] {
  const out: Ready<PbftMessage>[] = [];
  while (core.hasReady()) out.push(core.ready());
  return out;
}

/** The messages of `type` that `outs` send. */
export function sentBy(outs: readonly Ready<PbftMessage>[], type: PbftMessage['type']): PbftMessage[] {
  return outs.flatMap((o) => o.send.map((s) => s.msg)).filter((m) => m.type === type);
}

/** A VIEW-CHANGE of `by` for `newView` from the genesis checkpoint, carrying `prepared`. */
export function viewChange(by: NodeId, newView = 1n, prepared: PreparedCert[] = []): ViewChangeMsg {
  return resign(by, { type: 'view-change', replica: by, newView, stable: { seq: 0n, digest: GENESIS, votes: [] }, prepared, signature: new Uint8Array(0) });
}

/**
 * The outputs `out` as a crash leaves them: the `deferrable` persists after the last persist that
 * is not are dropped (no later sync covered their writes), everything before is kept.
 */
export function survivors(out: readonly Ready<PbftMessage>[]): Ready<PbftMessage>[] {
  let end = 0;
  out.forEach((r, i) => {
    if (r.persist && !r.persist.deferrable) end = i + 1;
  });
  return [...out.slice(0, end), ...out.slice(end).filter((r) => !r.persist)];
}

/**
 * A fresh core recovered from everything `s` persisted (hard state and log). With `lose`, as after
 * a crash that lost the deferred writes no later sync covered (`survivors`).
 */
export function restartFrom(s: Pick<Solo, 'id' | 'out'>, config: PbftConfig = {}, n = 4, lose?: 'deferred'): { core: PbftCore; out: Ready<PbftMessage>[] } {
  let hardState: Uint8Array | undefined;
  const log: LogRecord[] = [];
  for (const r of lose === 'deferred' ? survivors(s.out) : s.out) {
    if (!r.persist) continue;
    if (r.persist.hardState) hardState = r.persist.hardState;
    log.push(...r.persist.append);
  }
  const core = new PbftCore(
    { self: s.id, validators: makeValidators(n), signer: testSigner(s.id), verifier: testVerifier, rng: seededRng(1) },
    config,
    { ...(hardState ? { hardState } : {}), log, appliedHeight: 0n },
  );
  return { core, out: drain(core) };
}
