import { describe, expect, it } from 'vitest';
import { DecodeError } from '@phalanx/interface';
import { encode } from '@phalanx/codec';
import { createCodec, newViewSizeBound, pbftCodec, refOf } from '../src/index.js';
import type { PbftMessage } from '../src/index.js';
import { checkpoint, digestOf, fuzzDecode, prePrepare, req, vote } from './craft.js';

const pp = prePrepare('r0', 3n, 7n, [req(0, 'a'), req(1, 'b', 'c9')]);
const samples: PbftMessage[] = [
  pp,
  vote('prepare', 'r1', 3n, 7n, pp.digest),
  vote('commit', 'r2', 3n, 7n, pp.digest),
  checkpoint('r3', 100n, new Uint8Array(32).fill(1)),
  { type: 'request', requests: [req(5, 'hello'), req(6)] },
  { type: 'fetch', have: 42n, signature: new Uint8Array(32) },
  { type: 'fetch', have: 42n, part: { seq: 100n, offset: 1_048_576 }, signature: new Uint8Array(32) },
  {
    type: 'view-change',
    replica: 'r1',
    newView: 4n,
    stable: { seq: 100n, digest: new Uint8Array(32), votes: [{ voter: 'r0', signature: new Uint8Array(32) }] },
    prepared: [{ prePrepare: refOf(pp), prepares: [{ voter: 'r2', signature: new Uint8Array(32) }] }],
    signature: new Uint8Array(32),
  },
  {
    type: 'state',
    checkpoint: {
      seq: 100n,
      stateDigest: new Uint8Array(32),
      snapshotHash: new Uint8Array(32).fill(2),
      snapshotBytes: 5_000_000,
      clientsHash: new Uint8Array(32).fill(3),
      clientsBytes: 1,
      proof: [{ voter: 'r0', signature: new Uint8Array(32) }],
      offset: 4_194_304,
      data: new Uint8Array(100).fill(9),
    },
    entries: [{ view: 1n, seq: 101n, batch: [req(3)], commits: [{ voter: 'r0', signature: new Uint8Array(32) }] }],
    signature: new Uint8Array(32),
  },
  { type: 'state', entries: [], signature: new Uint8Array(32) },
  { type: 'fetch-batch', seq: 7n, digest: pp.digest },
  { type: 'batch', seq: 7n, batch: pp.batch },
];
samples.push({ type: 'new-view', view: 4n, viewChanges: [samples[7] as never], prePrepares: [refOf(pp)], signature: new Uint8Array(32) });

describe('codec (bounded, canonical)', () => {
  it('round-trips every message type to identical bytes', () => {
    for (const m of samples) {
      const bytes = pbftCodec.encode(m);
      const back = pbftCodec.decode(bytes);
      expect(back).toEqual(m);
      expect(pbftCodec.encode(back)).toEqual(bytes);
    }
  });

  it('bounds every field: batch size, payload size, signatures, frame size', () => {
    const codec = createCodec({ maxBatchSize: 1, maxPayloadBytes: 4, maxSignatures: 1, maxFrameBytes: 4096 });
    expect(() => codec.decode(pbftCodec.encode(pp))).toThrow(/prePrepare\.batch: 2 items exceed the limit of 1/);
    const big = prePrepare('r0', 0n, 1n, [req(0, 'too long')]);
    expect(() => codec.decode(pbftCodec.encode(big))).toThrow(/payload: 8 bytes exceed the limit of 4/);
    expect(() => codec.decode(pbftCodec.encode({ type: 'batch', seq: 7n, batch: pp.batch }))).toThrow(/batch\.batch: 2 items exceed the limit of 1/);
    const vc = samples[7] as Extract<PbftMessage, { type: 'view-change' }>;
    const many = { ...vc, prepared: [], stable: { ...vc.stable, votes: [vc.stable.votes[0]!, vc.stable.votes[0]!] } };
    expect(() => codec.decode(pbftCodec.encode(many))).toThrow(DecodeError);
    expect(() => codec.decode(new Uint8Array(5000))).toThrow(/exceeds the limit/);
    // a relay from a backup: no more requests than a batch holds, and never none
    expect(() => codec.decode(pbftCodec.encode({ type: 'request', requests: [req(0), req(1)] }))).toThrow(/request\.requests: 2 items exceed the limit of 1/);
    expect(() => pbftCodec.decode(encode([0, []]))).toThrow(/request\.requests: empty/);
    expect(() => pbftCodec.decode(encode([0, [['c0', 1n, new Uint8Array(1)]], new Uint8Array(64)]))).toThrow(DecodeError); // v1 relay with a signature
  });

  it('refuses unknown types, missing or extra fields', () => {
    expect(() => pbftCodec.decode(encode([99, 1]))).toThrow(/unknown message type 99/);
    expect(() => pbftCodec.decode(encode([2, 'r1', 0, 1]))).toThrow(DecodeError);
    expect(() => pbftCodec.decode(encode([7, 1, new Uint8Array(1), 'extra']))).toThrow(DecodeError);
    expect(() => pbftCodec.decode(encode({ t: 1 }))).toThrow(DecodeError);
  });

  it('throws only DecodeError on random and mutated bytes', () => {
    fuzzDecode(samples.map((m) => pbftCodec.encode(m)), 42);
  });

  it('a batch digest is the hash of the canonical batch encoding', () => {
    expect(pp.digest).toEqual(digestOf(pp.batch));
  });
});

describe('newViewSizeBound', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `replica-${i}`);
  it('grows with the window and with n squared; small clusters stay far under a 4 MiB frame', () => {
    const at = (n: number, l: number) => newViewSizeBound({ ids: ids(n), watermarkWindow: l });
    expect(at(4, 200)).toBeLessThan(512 * 1024);
    expect(at(31, 200)).toBeGreaterThan(4 * 1024 * 1024);
    // Linear in L (within the fixed parts), about quadratic in n.
    expect(at(7, 400) / at(7, 200)).toBeGreaterThan(1.9);
    expect(at(7, 400) / at(7, 200)).toBeLessThan(2.1);
    expect(at(16, 200) / at(7, 200)).toBeGreaterThan(3.5);
    // Bigger signatures (ML-DSA-44: 2,420 bytes) weigh in too.
    expect(newViewSizeBound({ ids: ids(4), watermarkWindow: 200, signatureBytes: 2420 })).toBeGreaterThan(20 * at(4, 200));
  });
});
