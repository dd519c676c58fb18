/**
 * Codec scenario: @phalanx/codec encode/decode of two typical messages — a signed vote (what
 * every replica sends O(n) of per decision) and a proposal carrying 64 client commands of
 * 100 bytes — beside JSON.stringify/JSON.parse of the same content as context. JSON is not a
 * ceiling the codec must beat (it is neither canonical nor bounded, and cannot carry bytes
 * without base64); it tells how far from the engine's built-in serialiser we are.
 */
import { decode, encode, type Value } from '@phalanx/codec';
import { measure, sized, type BenchRecord, type MeasureOptions } from '@phalanx/bench-kit';

function filled(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

export function typicalVote(): Value {
  return { type: 'prepare', view: 3n, seq: 1_234_567n, digest: filled(32, 1), replica: 'r3', signature: filled(65, 2) };
}

export function typicalProposal(requests = 64, commandBytes = 100): Value {
  return {
    type: 'pre-prepare',
    view: 3n,
    seq: 1_234_567n,
    requests: Array.from({ length: requests }, (_, i) => ({ client: `client-${i}`, seq: BigInt(1000 + i), payload: filled(commandBytes, i) })),
    signature: filled(65, 3),
  };
}

/** The same content as JSON can carry it: bigints as strings, bytes as base64. */
export function asJson(v: Value): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map((x) => asJson(x as Value));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, Value>)) out[k] = asJson(x);
    return out;
  }
  return v;
}

export function codecScenario(opts: MeasureOptions = {}): BenchRecord[] {
  const m: MeasureOptions = { minTimeMs: sized(100, 1000), warmupMs: sized(20, 200), ...opts };
  const records: BenchRecord[] = [];
  const cases: Array<[string, Value, string]> = [
    ['vote', typicalVote(), 'signed vote (view, seq, 32 B digest, signature)'],
    ['proposal', typicalProposal(), '64 commands × 100 B'],
  ];
  for (const [label, value, what] of cases) {
    const bytes = encode(value);
    const json = asJson(value);
    const jsonBytes = Buffer.from(JSON.stringify(json));
    const enc = measure(() => encode(value), m);
    const jsonEnc = measure(() => Buffer.from(JSON.stringify(json)), m);
    const dec = measure(() => decode(bytes), m);
    const jsonDec = measure(() => JSON.parse(jsonBytes.toString('utf8')), m);
    const params = { message: label, content: what, bytes: bytes.length };
    records.push(
      {
        suite: 'codec',
        name: `encode ${label}`,
        value: enc.opsPerSec,
        unit: 'ops/s',
        params,
        ceiling: { name: 'JSON.stringify + utf8 (context)', value: jsonEnc.opsPerSec, unit: 'ops/s' },
        claim: 'canonical: one encoding per value (DESIGN §6)',
        better: 'higher',
      },
      {
        suite: 'codec',
        name: `decode ${label}`,
        value: dec.opsPerSec,
        unit: 'ops/s',
        params,
        ceiling: { name: 'JSON.parse (context, no validation)', value: jsonDec.opsPerSec, unit: 'ops/s' },
        claim: 'bounded: sizes, depth and counts checked before allocating (DESIGN §6)',
        better: 'higher',
      },
      {
        suite: 'codec',
        name: `encoded size ${label}`,
        value: bytes.length,
        unit: 'bytes',
        params: { message: label },
        ceiling: { name: 'JSON (bytes as base64)', value: jsonBytes.length, unit: 'bytes' },
        better: 'lower',
      },
    );
  }
  return records;
}
