/**
 * The hand-written fast paths of the command wire form against the generic codec: the same bytes
 * on encode, and on decode the same command or the same refusal, for valid, mutated and random input.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, encode, readMap, toHex } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { decodeCommand, decodeResult, encodeCommand, encodeResult } from '../src/index.js';
import { decodeCommandGeneric } from '../src/commands.js';
import type { KvCommand } from '../src/index.js';

/** Byte strings around every CBOR length-header boundary (23/24, 255/256, 65535/65536). */
const sizes = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 300 }), weight: 8 },
  { arbitrary: fc.constantFrom(23, 24, 255, 256, 1024), weight: 3 },
  { arbitrary: fc.constantFrom(65_535, 65_536, 70_000), weight: 1 },
);
const bytesOf = (max: number) => sizes.filter((n) => n <= max).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const commandOf = (maxValue: number): fc.Arbitrary<KvCommand> =>
  fc.oneof(
    fc.record({ op: fc.constant('put' as const), key: bytesOf(1024), value: bytesOf(maxValue) }),
    fc.record({ op: fc.constantFrom('get' as const, 'del' as const), key: bytesOf(1024) }),
  );
const command = commandOf(70_000);
/** Small ones for the mutation runs: a flipped byte lands in the structure, not deep in a value. */
const small = commandOf(300);

function generic(c: KvCommand): Uint8Array {
  return encode(c.op === 'put' ? { op: c.op, key: c.key, value: c.value } : { op: c.op, key: c.key });
}

/** What a decoder did with some bytes: the command, or that it refused them. */
function outcome(f: (b: Uint8Array) => KvCommand, b: Uint8Array): unknown {
  try {
    return f(b);
  } catch (e) {
    return `refused: ${(e as Error).name}`;
  }
}

describe('command wire form: fast paths agree with the generic codec', () => {
  it('encodeCommand writes the canonical encoding byte for byte', () => {
    fc.assert(
      fc.property(command, (c) => {
        expect(toHex(encodeCommand(c))).toBe(toHex(generic(c)));
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('decodeCommand round-trips, and copies key and value out of the frame', () => {
    fc.assert(
      fc.property(command, (c) => {
        const bytes = encodeCommand(c);
        const d = decodeCommand(bytes);
        expect(d).toEqual(c);
        if (d.op === 'put' && d.value.length > 0) expect(d.value.buffer).not.toBe(bytes.buffer);
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('mutated, truncated, extended and random bytes: same command or same refusal as the generic decoder', () => {
    const mutated = fc.tuple(small, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([c, edits]) => {
      const b = encodeCommand(c);
      for (const [i, v] of edits) if (b.length > 0) b[i % b.length] = v;
      return b;
    });
    const truncated = fc.tuple(small, fc.nat()).map(([c, n]) => {
      const b = encodeCommand(c);
      return b.subarray(0, n % (b.length + 1));
    });
    const extended = fc.tuple(small, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([c, tail]) => new Uint8Array([...encodeCommand(c), ...tail]));
    const input = fc.oneof(mutated, truncated, extended, fc.uint8Array({ maxLength: 64 }));
    fc.assert(
      fc.property(input, (b) => {
        expect(outcome(decodeCommand, b)).toEqual(outcome(decodeCommandGeneric, b));
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('copies key and value out of a Buffer too (its slice would be a view)', () => {
    const frame = Buffer.from(encodeCommand({ op: 'put', key: new Uint8Array([1]), value: new Uint8Array([2, 3]) }));
    const d = decodeCommand(frame);
    frame.fill(0);
    expect(d).toEqual({ op: 'put', key: new Uint8Array([1]), value: new Uint8Array([2, 3]) });
  });

  it('a non-minimal length header is left to the generic decoder, which refuses it', () => {
    // "key" with a 1-byte key written with the 1-byte length form (0x58 0x01): valid CBOR, not canonical.
    const b = new Uint8Array([0xa2, 0x62, 0x6f, 0x70, 0x63, 0x67, 0x65, 0x74, 0x63, 0x6b, 0x65, 0x79, 0x58, 0x01, 0x61]);
    expect(() => decodeCommand(b)).toThrow(/integer encoded in more bytes/);
  });

  it('decodeResult reads the shared OK answer and every other result', () => {
    expect(decodeResult(encodeResult({ ok: true }))).toEqual({ ok: true });
    expect(decodeResult(encodeResult({ ok: true, value: new Uint8Array([1, 2]) }))).toEqual({ ok: true, value: new Uint8Array([1, 2]) });
    expect(decodeResult(encodeResult({ ok: false, error: 'no' }))).toEqual({ ok: false, error: 'no' });
  });
});

describe('snapshot wire form', () => {
  it('is the generic canonical encoding of {v, data, sessions}, byte for byte', async () => {
    const { KvStore } = await import('../src/index.js');
    const entry = fc.tuple(bytesOf(300), bytesOf(70_000));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), fc.integer({ min: 1, max: 3 }), (puts, clients) => {
        const kv = new KvStore();
        let seq = 0n;
        for (const [key, value] of puts) {
          const client = `c${Number(seq) % clients}`;
          kv.apply([{ client, seq: seq++, payload: encodeCommand({ op: 'put', key, value }) }], { height: seq } as never);
        }
        // The oracle: the last value per key, sorted bytewise, and the sessions as restore reads them.
        const last = new Map<string, [Uint8Array, Uint8Array]>();
        for (const [key, value] of puts) last.set(toHex(key), [key, value]);
        const data = [...last.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, kv]) => kv);
        const snap = kv.snapshot();
        const decoded = decodeSnapshotSessions(snap);
        expect(toHex(snap)).toBe(toHex(encode({ v: 1, data, sessions: decoded })));
      }),
      { numRuns: 60 },
    );
  }, 60_000);

  it('stays the generic encoding snapshot after snapshot while keys come, go and come back', async () => {
    const { KvStore } = await import('../src/index.js');
    // Few short keys, so that deletes and re-inserts hit keys an earlier snapshot ordered.
    const key = fc.integer({ min: 0, max: 40 }).map((i) => new Uint8Array(i === 0 ? [] : [i % 7, i]).subarray(0, 1 + (i % 2)));
    const op = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key, value: bytesOf(40) }),
      fc.record({ op: fc.constant('del' as const), key }),
      fc.constant({ op: 'snapshot' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const kv = new KvStore();
        const model = new Map<string, [Uint8Array, Uint8Array]>();
        let seq = 0n;
        const check = () => {
          const snap = kv.snapshot();
          const data = [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, e]) => e);
          expect(toHex(snap)).toBe(toHex(encode({ v: 1, data, sessions: decodeSnapshotSessions(snap) })));
        };
        for (const o of ops) {
          if (o.op === 'snapshot') {
            check();
            continue;
          }
          kv.apply([{ client: 'c', seq: seq++, payload: encodeCommand(o) }], { height: seq } as never);
          if (o.op === 'put') model.set(toHex(o.key), [o.key, o.value]);
          else model.delete(toHex(o.key));
        }
        check();
      }),
      { numRuns: 200 },
    );
  });
});

/** The sessions part of a snapshot, as a value (its encoding is the generic encoder's own). */
function decodeSnapshotSessions(snap: Uint8Array): Value {
  const m = readMap(decode(snap, { maxDepth: 6 }), 'snapshot', ['v', 'data', 'sessions']);
  return m['sessions']!;
}
