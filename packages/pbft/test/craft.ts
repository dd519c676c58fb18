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
import type { CheckpointMsg, FetchMsg, NewViewMsg, PbftConfig, PbftMessage, PrePrepareMsg, StateMsg, ViewChangeMsg, VoteMsg } from '../src/index.js';
import { makeValidators, seededRng, testSigner, testVerifier } from './cluster.js';

export const CHAIN = 'phalanx';
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
    while (this.core.hasReady()) this.out.push(this.core.ready());
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

/**
 * A fresh core recovered from everything `s` persisted (hard state and log). With `lose`, as after
 * a crash that lost the deferred writes no later sync covered: the records of `deferrable`
 * persists after the last one that is not.
 */
export function restartFrom(s: Pick<Solo, 'id' | 'out'>, config: PbftConfig = {}, n = 4, lose?: 'deferred'): { core: PbftCore; out: Ready<PbftMessage>[] } {
  let hardState: Uint8Array | undefined;
  const log: LogRecord[] = [];
  let durable = 0;
  for (const r of s.out) {
    if (!r.persist) continue;
    if (r.persist.hardState) hardState = r.persist.hardState;
    log.push(...r.persist.append);
    if (!r.persist.deferrable) durable = log.length;
  }
  if (lose === 'deferred') log.length = durable;
  const core = new PbftCore(
    { self: s.id, validators: makeValidators(n), signer: testSigner(s.id), verifier: testVerifier, rng: seededRng(1) },
    config,
    { ...(hardState ? { hardState } : {}), log, appliedHeight: 0n },
  );
  const out: Ready<PbftMessage>[] = [];
  while (core.hasReady()) out.push(core.ready());
  return { core, out };
}
