/**
 * The client protocol's wire format (canonical CBOR via @phalanx/codec). A client pipelines many
 * requests; `(client, seq)` is the request id — the client is the authenticated sender of the
 * stream, never a field — and each replica answers every committed request with its result, the
 * height it committed at and the commit proof, so the client can count matching replies.
 *
 * Frames carry lists: a client sends every request of one event-loop tick in one frame, and a
 * replica answers all of one client's requests that committed in one batch with one frame (one
 * height, one proof). Per-frame costs (framing, encryption, decoding, the proof's bytes) are then
 * paid per batch, not per command, which is what lets the client protocol keep up with consensus.
 */
import { EncodeError, decode, encode, readArray, readBytes, readMap, readString, readU64, readUint, u64Of } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { DecodeError, chunkBySize } from '@phalanx/interface';
import { MAX_GROUP_SIZE } from '@phalanx/client-auth';

/**
 * Version 3: request frames may carry the client's signatures (version 2 had none; version 1
 * carried one request or one reply per frame).
 */
export const CLIENT_WIRE_VERSION = 3;
/** Most requests or results in one frame. */
export const MAX_FRAME_ITEMS = 4096;
/**
 * Most payload bytes (requests or results) gathered into one frame: well under the transports'
 * frame limit (4 MiB for libp2p), which drops bigger frames. A single larger item still goes alone.
 */
export const MAX_FRAME_PAYLOAD_BYTES = 1024 * 1024;
/** Largest client signature accepted (ML-DSA-65's is 3,309 bytes; hybrids add 64). */
const MAX_SIGNATURE_BYTES = 8192;

/** Splits `items` into frames of at most `MAX_FRAME_ITEMS` items and about `MAX_FRAME_PAYLOAD_BYTES` bytes. */
export function framesOf<T>(items: readonly T[], bytes: (t: T) => number): T[][] {
  return [...chunkBySize(items, (t) => bytes(t) + 16, MAX_FRAME_ITEMS, MAX_FRAME_PAYLOAD_BYTES)];
}

export interface WireRequest {
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

export interface WireResult {
  readonly seq: bigint;
  readonly result: Uint8Array;
}

export interface RequestFrame {
  readonly type: 'request';
  /** One or more requests, at most `MAX_FRAME_ITEMS`. */
  readonly requests: readonly WireRequest[];
  /**
   * The client's signatures (`@phalanx/client-auth`): one per run of `MAX_GROUP_SIZE` requests in
   * frame order, the last run possibly shorter. Absent from an unauthenticated client.
   */
  readonly sigs?: readonly Uint8Array[];
}

export interface ReplyFrame {
  readonly type: 'reply';
  /** The height every result in this frame committed at. */
  readonly height: bigint;
  /** One or more results, at most `MAX_FRAME_ITEMS`. */
  readonly results: readonly WireResult[];
  /** The commit proof of that height (protocol specific; absent for protocols that give none, and for cached answers). */
  readonly proof?: Uint8Array;
  /** The replying replica's view of the current leader: a hint for where to send next (never trusted for safety). */
  readonly leader?: string;
}

export type RejectCode = 'expired' | 'unavailable' | 'too-large' | 'malformed' | 'unauthenticated';

/** A replica cannot serve the request (yet): the client retries or gives up. */
export interface RejectFrame {
  readonly type: 'reject';
  readonly seq: bigint;
  /**
   * Further requests refused alike (same code and message), at most `MAX_FRAME_ITEMS` - 1: one frame
   * for a whole refused request frame instead of one per request. Optional within version 3: a
   * client older than it drops such a frame as malformed, and those requests time out instead.
   */
  readonly more?: readonly bigint[];
  readonly code: RejectCode;
  readonly message: string;
}

/** Every request a reject frame refuses. */
export function rejectedSeqs(f: RejectFrame): bigint[] {
  return [f.seq, ...(f.more ?? [])];
}

export type ClientFrame = RequestFrame | ReplyFrame | RejectFrame;

const CODES: readonly RejectCode[] = ['expired', 'unavailable', 'too-large', 'malformed', 'unauthenticated'];

/** What is wrong with `sigs` signatures over `requests` requests, or undefined when they match. */
function sigsMismatch(sigs: number, requests: number): string | undefined {
  const groups = Math.ceil(requests / MAX_GROUP_SIZE);
  return sigs === groups ? undefined : `${requests} requests are ${groups} signed groups, got ${sigs} signatures`;
}

// A frame the decoder would refuse is the caller's mistake, so encoding it is an EncodeError.
function checkCount(n: number, what: string): void {
  if (n < 1 || n > MAX_FRAME_ITEMS) throw new EncodeError(`a ${what} frame carries 1..${MAX_FRAME_ITEMS} items, got ${n}`);
}

export function encodeClientFrame(f: ClientFrame): Uint8Array {
  let v: Record<string, Value>;
  switch (f.type) {
    case 'request':
      checkCount(f.requests.length, 'request');
      // Pairs, not maps: arrays need no key sorting on encode and no key checks on decode.
      v = { v: CLIENT_WIRE_VERSION, t: 0, reqs: f.requests.map((r) => [r.seq, r.payload]) };
      if (f.sigs) {
        const wrong = sigsMismatch(f.sigs.length, f.requests.length);
        if (wrong !== undefined) throw new EncodeError(wrong);
        v['sigs'] = [...f.sigs];
      }
      break;
    case 'reply':
      checkCount(f.results.length, 'reply');
      v = { v: CLIENT_WIRE_VERSION, t: 1, height: f.height, results: f.results.map((r) => [r.seq, r.result]) };
      if (f.proof) v['proof'] = f.proof;
      if (f.leader !== undefined) v['leader'] = f.leader;
      break;
    case 'reject':
      v = { v: CLIENT_WIRE_VERSION, t: 2, seq: f.seq, code: CODES.indexOf(f.code), message: f.message };
      if (f.more && f.more.length > 0) {
        checkCount(f.more.length + 1, 'reject');
        v['more'] = [...f.more];
      }
      break;
  }
  return encode(v);
}

function readPairs<T>(v: Value | undefined, path: string, make: (seq: bigint, bytes: Uint8Array) => T): T[] {
  const items = readArray(v, path, MAX_FRAME_ITEMS);
  if (items.length === 0) throw new DecodeError(`${path}: empty`);
  return items.map((item, i) => {
    // Well-formed pairs are read without building error paths (three strings per item, as costly
    // as decoding the item); a bad one is read again below, which names what is wrong.
    if (Array.isArray(item) && item.length === 2 && item[1] instanceof Uint8Array) {
      const seq = u64Of(item[0]);
      if (seq !== undefined) return make(seq, item[1]);
    }
    const pair = readArray(item, `${path}[${i}]`, 2);
    if (pair.length !== 2) throw new DecodeError(`${path}[${i}]: expected [seq, bytes]`);
    return make(readU64(pair[0], `${path}[${i}].seq`), readBytes(pair[1], `${path}[${i}].bytes`));
  });
}

export function decodeClientFrame(bytes: Uint8Array, maxBytes = 16 * 1024 * 1024): ClientFrame {
  const raw = readMap(decode(bytes, { maxBytes, maxDepth: 4 }), 'client');
  // The version first, so a peer of another version hears that rather than "unexpected field".
  const version = readUint(raw['v'], 'client.v');
  if (version !== CLIENT_WIRE_VERSION) throw new DecodeError(`client.v: unsupported client protocol version ${version} (this side speaks ${CLIENT_WIRE_VERSION})`);
  const m = readMap(raw, 'client', ['v', 't', 'reqs', 'sigs', 'height', 'results', 'proof', 'leader', 'seq', 'more', 'code', 'message']);
  const t = readUint(m['t'], 'client.t', 2);
  if (t === 0) {
    const requests = readPairs(m['reqs'], 'client.reqs', (seq, payload) => ({ seq, payload }));
    if (m['sigs'] === undefined) return { type: 'request', requests };
    const sigs = readArray(m['sigs'], 'client.sigs', Math.ceil(MAX_FRAME_ITEMS / MAX_GROUP_SIZE)).map((x, i) => readBytes(x, `client.sigs[${i}]`, { max: MAX_SIGNATURE_BYTES }));
    const wrong = sigsMismatch(sigs.length, requests.length);
    if (wrong !== undefined) throw new DecodeError(`client.sigs: ${wrong}`);
    return { type: 'request', requests, sigs };
  }
  if (t === 1) {
    const proof = m['proof'];
    return {
      type: 'reply',
      height: readU64(m['height'], 'client.height'),
      results: readPairs(m['results'], 'client.results', (seq, result) => ({ seq, result })),
      ...(proof !== undefined ? { proof: readBytes(proof, 'client.proof') } : {}),
      ...(m['leader'] !== undefined ? { leader: readString(m['leader'], 'client.leader', 256) } : {}),
    };
  }
  const code = CODES[readUint(m['code'], 'client.code', CODES.length - 1)]!;
  const seq = readU64(m['seq'], 'client.seq');
  const message = readString(m['message'], 'client.message', 512);
  if (m['more'] === undefined) return { type: 'reject', seq, code, message };
  const more = readArray(m['more'], 'client.more', MAX_FRAME_ITEMS - 1).map((x, i) => readU64(x, `client.more[${i}]`));
  if (more.length === 0) throw new DecodeError('client.more: empty (omit it instead)');
  return { type: 'reject', seq, more, code, message };
}
