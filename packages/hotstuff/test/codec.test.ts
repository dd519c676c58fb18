import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CertificateError, ConfigError, DecodeError, InsufficientReplicasError } from '@phalanx/interface';
import type { Hasher } from '@phalanx/interface';
import { encode } from '@phalanx/codec';
import { decodeMessage, encodeMessage, hotstuff, LIMITS, STATUS_TIMER, verifyCommitProof } from '../src/index.js';
import type { HotStuffMessage } from '../src/index.js';
import { Crafter } from './craft.js';
import { Cluster, fakeValidators, fakeVerifier, req, seededRng } from './harness.js';

const v = fakeValidators(4);
const craft = new Crafter(v.validators, v.signers);
const b1 = craft.block(craft.genesis, 1n, [req('c', 1, 'hello'), req('d', 7)]);
const qc1 = craft.qc(b1);
const b2 = craft.block(qc1, 3n);

const samples: HotStuffMessage[] = [
  craft.proposal(b1),
  craft.proposal(b2, craft.tc(2n, qc1)),
  craft.vote('r2', b1),
  craft.timeout('r3', 5n, qc1),
  { ...(craft.timeout('r3', 3n, qc1) as Extract<HotStuffMessage, { type: 'timeout' }>), tc: craft.tc(2n, qc1) },
  { type: 'request-blocks', hash: b1.hash, count: 32 },
  { type: 'blocks', blocks: [b2.block, b1.block] },
  { type: 'requests', requests: [req('c', 1), req('c', 2, '')] },
  { type: 'status', highQC: qc1, reply: true },
  { type: 'checkpoint', height: 8n, block: b1.hash, state: new Uint8Array(32).fill(5), size: 10, votes: [{ voter: 'r1', signature: new Uint8Array(64).fill(1) }] },
  { type: 'request-state', height: 8n, offset: 4096, length: 1024 },
  {
    type: 'state',
    height: 8n,
    offset: 0,
    total: 10,
    data: new Uint8Array(4).fill(9),
    cert: { block: b1.hash, state: new Uint8Array(32).fill(5), votes: [{ voter: 'r1', signature: new Uint8Array(64) }, { voter: 'r2', signature: new Uint8Array(64) }], proof: new Uint8Array([1, 2, 3]) },
  },
  { type: 'state', height: 8n, offset: 4, total: 10, data: new Uint8Array(6) },
];

describe('codec (bounded, canonical)', () => {
  it('round-trips every message type', () => {
    for (const m of samples) expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  it('rejects truncated frames, trailing bytes, unknown tags and wrong arities with DecodeError', () => {
    for (const m of samples) {
      const bytes = encodeMessage(m);
      for (const cut of [1, Math.floor(bytes.length / 2), bytes.length - 1]) {
        expect(() => decodeMessage(bytes.subarray(0, cut))).toThrow(DecodeError);
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => decodeMessage(longer)).toThrow(DecodeError);
    }
    expect(() => decodeMessage(encode([99, 1]))).toThrow(/unknown tag/);
    expect(() => decodeMessage(encode([1, 1n, 2n]))).toThrow(/needs 5 fields/);
  });

  it('bounds every field: hash sizes, counts, payloads', () => {
    expect(() => decodeMessage(encode([3, new Uint8Array(31), 4]))).toThrow(/expected 32 bytes/);
    expect(() => decodeMessage(encode([3, new Uint8Array(32), LIMITS.maxBlocksPerResponse + 1]))).toThrow(DecodeError);
    const big = new Uint8Array(LIMITS.maxSignatureBytes + 1);
    expect(() => decodeMessage(encode([1, 1, 1, new Uint8Array(32), big]))).toThrow(/exceed/);
    expect(() => decodeMessage(encode([5, [['c', -1, new Uint8Array(0)]]]))).toThrow(DecodeError);
    expect(() => decodeMessage(new Uint8Array(0))).toThrow(DecodeError);
  });

  it('bounds state-transfer messages: pieces inside their state, the certificate on the first piece only, votes present', () => {
    const h32 = new Uint8Array(32);
    const cert = [h32, h32, [['r1', new Uint8Array(64)]], new Uint8Array(1)];
    expect(() => decodeMessage(encode([9, 8, 8, 10, new Uint8Array(3), null]))).toThrow(/runs past the state's 10 bytes/);
    expect(() => decodeMessage(encode([9, 8, 4, 10, new Uint8Array(3), cert]))).toThrow(/the first piece, and only it/);
    expect(() => decodeMessage(encode([9, 8, 0, 10, new Uint8Array(3), null]))).toThrow(/the first piece, and only it/);
    expect(() => decodeMessage(encode([9, 8, 0, LIMITS.maxStateBytes + 1, new Uint8Array(3), cert]))).toThrow(/exceeds/);
    expect(() => decodeMessage(encode([7, 8, h32, h32, 10, []]))).toThrow(/at least one vote/);
    expect(() => decodeMessage(encode([7, 8, h32, new Uint8Array(31), 10, [['r1', new Uint8Array(1)]]]))).toThrow(/expected 32 bytes/);
    expect(() => decodeMessage(encode([7, 8, h32, h32, LIMITS.maxStateBytes + 1, [['r1', new Uint8Array(1)]]]))).toThrow(/exceeds/);
    expect(() => decodeMessage(encode([8, 8, -1, 1]))).toThrow(DecodeError);
    expect(() => decodeMessage(encode([8, 8, 0, LIMITS.maxStatePieceBytes + 1]))).toThrow(/exceeds/);
  });

  it('never throws anything but DecodeError on arbitrary bytes (property)', () => {
    const valid = samples.map(encodeMessage);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (i, flips) => {
        const bytes = Uint8Array.from(valid[i]!);
        for (const [at, val] of flips) bytes[at % bytes.length] = val;
        try {
          decodeMessage(bytes);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
        }
      }),
      { numRuns: 2000, seed: 42 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
        }
      }),
      { numRuns: 2000, seed: 43 },
    );
  });

  it('a core never throws on garbage messages from a peer: they become misbehaviour events', () => {
    const core = hotstuff.create({ self: 'r0', validators: v.validators, signer: v.signers.get('r0')!, verifier: fakeVerifier, rng: seededRng(1) }, { chainId: 'test' });
    const badQC = { ...qc1, sig: new Uint8Array([1, 2, 3]) };
    const bad = craft.block(badQC, 2n);
    core.step({ type: 'message', from: bad.block.proposer, msg: craft.proposal(bad) });
    core.step({ type: 'message', from: 'stranger', msg: samples[2]! });
    const events = core.ready().events.filter((e) => e.type === 'misbehaviour').map((e) => (e as { kind: string }).kind);
    expect(events).toEqual(['malformed', 'unknown-sender']);
  });
});

describe('configuration', () => {
  const ctx = { self: 'r0', validators: v.validators, signer: v.signers.get('r0')!, verifier: fakeVerifier, rng: seededRng(1) };
  it('names the offending path in ConfigError', () => {
    expect(() => hotstuff.create(ctx, { chainId: '' })).toThrow(ConfigError);
    expect(() => hotstuff.create(ctx, { chainId: 'x', maxBlockCommands: 0 })).toThrow(/maxBlockCommands/);
    expect(() => hotstuff.create(ctx, { chainId: 'x', commitRule: 'one-chain' as never })).toThrow(/commitRule/);
    expect(() => hotstuff.create(ctx, { chainId: 'x', baseTimeoutMs: 10, maxTimeoutMs: 5 })).toThrow(/maxTimeoutMs/);
  });
  it('refuses state-transfer settings that could strand a replica or break a frame', () => {
    // An installed replica fetches the blocks after a snapshot from peers' sync windows.
    expect(() => hotstuff.create(ctx, { chainId: 'x', snapshotInterval: 64, syncWindow: 64 })).toThrow(/^snapshotInterval: must be below syncWindow \(64\)/);
    expect(() => hotstuff.create(ctx, { chainId: 'x', syncWindow: 16 })).toThrow(/snapshotInterval/); // the default 1000
    expect(hotstuff.create(ctx, { chainId: 'x', snapshotInterval: 0, syncWindow: 16 }).status().protocol).toBe('hotstuff');
    expect(() => hotstuff.create(ctx, { chainId: 'x', stateChunkBytes: LIMITS.maxStatePieceBytes + 1 })).toThrow(/stateChunkBytes/);
    expect(() => hotstuff.create(ctx, { chainId: 'x', maxStateBytes: LIMITS.maxStateBytes + 1 })).toThrow(/maxStateBytes/);
    expect(() => hotstuff.create(ctx, { chainId: 'x', stateTickMs: 0 })).toThrow(/stateTickMs/);
  });
  it('arms the status probe at start unless statusIntervalMs is 0, and refuses a negative one', () => {
    const armed = (statusIntervalMs?: number) =>
      hotstuff.create(ctx, { chainId: 'x', ...(statusIntervalMs !== undefined ? { statusIntervalMs } : {}) }).ready().timers.filter((t) => t.id === STATUS_TIMER);
    expect(armed()).toEqual([{ op: 'set', id: STATUS_TIMER, ms: 1000 }]);
    expect(armed(250)).toEqual([{ op: 'set', id: STATUS_TIMER, ms: 250 }]);
    expect(armed(0)).toEqual([]);
    expect(() => hotstuff.create(ctx, { chainId: 'x', statusIntervalMs: -1 })).toThrow(/statusIntervalMs/);
  });
  it('refuses a self that is not a validator', () => {
    expect(() => hotstuff.create({ ...ctx, self: 'nobody' }, { chainId: 'x' })).toThrow(/self/);
  });
  it('refuses fewer than 4 replicas', () => {
    const small = fakeValidators(3);
    expect(() => hotstuff.create({ ...ctx, validators: small.validators, signer: small.signers.get('r0')! }, { chainId: 'x' })).toThrow(InsufficientReplicasError);
  });
});

describe('commit proofs (offline verification with only the validator set)', () => {
  const c = new Cluster({ n: 4, seed: 3 });
  for (let i = 1; i <= 5; i++) c.request('r0', req('p', i));
  c.run({ until: () => c.nodes.get('r1')!.committedRequests.size >= 5 });
  const proof = c.nodes.get('r1')!.committed[0]!.proof!;

  it('verifies a proof from a live cluster', () => {
    const info = verifyCommitProof(proof, c.validators, fakeVerifier, { chainId: 'test' });
    expect(info.height).toBe(1n);
  });

  it('rejects a proof with any byte changed, for another chain, or for another validator set', () => {
    expect(() => verifyCommitProof(proof, c.validators, fakeVerifier, { chainId: 'other' })).toThrow(CertificateError);
    const others = fakeValidators(4, 'x');
    expect(() => verifyCommitProof(proof, others.validators, fakeVerifier)).toThrow(CertificateError);
    let rejected = 0;
    for (let i = 0; i < proof.length; i += 7) {
      const t = Uint8Array.from(proof);
      t[i] = t[i]! ^ 0x01;
      try {
        verifyCommitProof(t, c.validators, fakeVerifier, { chainId: 'test' });
      } catch (err) {
        expect(err instanceof CertificateError || err instanceof DecodeError).toBe(true);
        rejected++;
        continue;
      }
      // A flip that still verifies must not change what the proof says.
      expect(verifyCommitProof(t, c.validators, fakeVerifier).hash).toEqual(verifyCommitProof(proof, c.validators, fakeVerifier).hash);
    }
    expect(rejected).toBeGreaterThan(proof.length / 7 - 3);
  });
});

import { frameCommands, parseCommandFrame } from '../src/block.js';

describe('command frame (block commands in proofs and log records)', () => {
  it('round-trips and refuses truncation, trailing bytes and oversized counts', () => {
    const cmds = [req('alice', 1, 'x'), req('bob', 2 ** 40, ''), { client: 'ü', seq: (1n << 64n) - 1n, payload: new Uint8Array(300).fill(7) }];
    const f = frameCommands(cmds);
    expect(parseCommandFrame(f, 'f')).toEqual(cmds);
    for (const cut of [0, 10, f.length - 1]) expect(() => parseCommandFrame(f.subarray(0, cut), 'f')).toThrow(DecodeError);
    const longer = new Uint8Array(f.length + 1);
    longer.set(f);
    expect(() => parseCommandFrame(longer, 'f')).toThrow(/trailing/);
    const huge = Uint8Array.from(f);
    new DataView(huge.buffer).setUint32(24, 0xffffffff);
    expect(() => parseCommandFrame(huge, 'f')).toThrow(DecodeError);
  });
});

import { blockHashParts, genesisBlock, sha256Hasher } from '../src/block.js';

describe('block hashes (computed once per block object)', () => {
  it('answers a second ask from memory, per hasher, and a caller cannot poison it', () => {
    const parent = genesisBlock(sha256Hasher, 'memo');
    const b = { ...parent, height: 1n, view: 1n, proposer: 'r0', commands: [req('alice', 1, 'x')] };
    let calls = 0;
    const counting: Hasher = { algorithm: 'sha256', digest: (d) => (calls++, sha256Hasher.digest(d)) };
    const first = blockHashParts(counting, b);
    const n = calls;
    expect(n).toBeGreaterThan(0);
    first.hash.fill(0); // a caller scribbling on its copy
    const again = blockHashParts(counting, b);
    expect(calls).toBe(n);
    expect(again).toEqual(blockHashParts(sha256Hasher, b)); // another hasher: computed afresh, same bytes
    expect(again.hash.some((x) => x !== 0)).toBe(true);
    // An equal block that is another object is hashed again (the object is the key).
    blockHashParts(counting, { ...b });
    expect(calls).toBe(2 * n);
  });
});
