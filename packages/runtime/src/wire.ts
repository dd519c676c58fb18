/**
 * The client protocol's wire format (canonical CBOR via @phalanx/codec). A client pipelines many
 * requests; `(client, seq)` is the request id — the client is the authenticated sender of the
 * stream, never a field — and each replica answers every committed request with its result, the
 * height it committed at and the commit proof, so the client can count matching replies.
 */
import { decode, encode, readBytes, readMap, readString, readU64, readUint } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { DecodeError } from '@phalanx/interface';

export const CLIENT_WIRE_VERSION = 1;

export interface RequestFrame {
  readonly type: 'request';
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

export interface ReplyFrame {
  readonly type: 'reply';
  readonly seq: bigint;
  readonly height: bigint;
  readonly result: Uint8Array;
  /** The commit proof of the batch (protocol specific; absent for protocols that give none). */
  readonly proof?: Uint8Array;
  /** The replying replica's view of the current leader: a hint for where to send next (never trusted for safety). */
  readonly leader?: string;
}

export type RejectCode = 'expired' | 'unavailable' | 'too-large' | 'malformed';

/** A replica cannot serve the request (yet): the client retries or gives up. */
export interface RejectFrame {
  readonly type: 'reject';
  readonly seq: bigint;
  readonly code: RejectCode;
  readonly message: string;
}

export type ClientFrame = RequestFrame | ReplyFrame | RejectFrame;

const CODES: readonly RejectCode[] = ['expired', 'unavailable', 'too-large', 'malformed'];

export function encodeClientFrame(f: ClientFrame): Uint8Array {
  let v: Record<string, Value>;
  switch (f.type) {
    case 'request':
      v = { v: CLIENT_WIRE_VERSION, t: 0, seq: f.seq, payload: f.payload };
      break;
    case 'reply':
      v = { v: CLIENT_WIRE_VERSION, t: 1, seq: f.seq, height: f.height, result: f.result };
      if (f.proof) v['proof'] = f.proof;
      if (f.leader !== undefined) v['leader'] = f.leader;
      break;
    case 'reject':
      v = { v: CLIENT_WIRE_VERSION, t: 2, seq: f.seq, code: CODES.indexOf(f.code), message: f.message };
      break;
  }
  return encode(v);
}

export function decodeClientFrame(bytes: Uint8Array, maxBytes = 4 * 1024 * 1024): ClientFrame {
  const m = readMap(decode(bytes, { maxBytes, maxDepth: 4 }), 'client', ['v', 't', 'seq', 'payload', 'height', 'result', 'proof', 'leader', 'code', 'message']);
  if (readUint(m['v'], 'client.v') !== CLIENT_WIRE_VERSION) throw new DecodeError('client.v: unsupported version');
  const t = readUint(m['t'], 'client.t', 2);
  const seq = readU64(m['seq'], 'client.seq');
  if (t === 0) return { type: 'request', seq, payload: readBytes(m['payload'], 'client.payload') };
  if (t === 1) {
    const proof = m['proof'];
    return {
      type: 'reply',
      seq,
      height: readU64(m['height'], 'client.height'),
      result: readBytes(m['result'], 'client.result'),
      ...(proof !== undefined ? { proof: readBytes(proof, 'client.proof') } : {}),
      ...(m['leader'] !== undefined ? { leader: readString(m['leader'], 'client.leader', 256) } : {}),
    };
  }
  const code = CODES[readUint(m['code'], 'client.code', CODES.length - 1)]!;
  return { type: 'reject', seq, code, message: readString(m['message'], 'client.message', 512) };
}
