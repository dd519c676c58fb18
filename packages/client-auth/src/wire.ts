/**
 * Request lists in protocol messages (batches, blocks, relayed requests). Without signatures a list
 * is `[[client, seq, payload], …]`, as before signed commands existed. With them it is a map:
 * `{ g: [[client, signature, digests], …], r: [[client, seq, payload, group, position] | [client, seq, payload], …] }`,
 * each group once, `digests` its commands' digests concatenated. Consensus digests never cover this
 * encoding (they hash client, seq and payload), so the same commands keep their identity however
 * their signatures travel.
 */
import { readArray, readBytes, readMap, readString, readU64, readUint, u64Of } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, SignedRequestGroup } from '@phalanx/interface';
import { MAX_GROUP_SIZE } from './group.js';

export interface RequestListLimits {
  readonly maxRequests: number;
  readonly maxPayloadBytes: number;
  readonly maxIdLength: number;
  readonly maxSignatureBytes: number;
}

export function requestListValue(requests: readonly ClientRequest[]): Value {
  if (!requests.some((r) => r.auth)) return requests.map((r) => [r.client, r.seq, r.payload]);
  const index = new Map<SignedRequestGroup, number>();
  const groups: Value[] = [];
  const list: Value[] = requests.map((r) => {
    if (!r.auth) return [r.client, r.seq, r.payload];
    let gi = index.get(r.auth.group);
    if (gi === undefined) {
      gi = groups.length;
      index.set(r.auth.group, gi);
      const g = r.auth.group;
      const blob = new Uint8Array(32 * g.digests.length);
      g.digests.forEach((d, i) => blob.set(d, 32 * i));
      groups.push([g.client, g.signature, blob]);
    }
    return [r.client, r.seq, r.payload, gi, r.auth.index];
  });
  return { g: groups, r: list };
}

/** Reads what `requestListValue` wrote. Every group must be used, every position inside its group. */
export function readRequestList(v: Value | undefined, path: string, lim: RequestListLimits): ClientRequest[] {
  return readList(v, path, lim, true);
}

/**
 * `readRequestList` with every command read through the checking readers (no fast path): the
 * reference the tests hold the fast path to. Not exported from the package.
 */
export function readRequestListChecked(v: Value | undefined, path: string, lim: RequestListLimits): ClientRequest[] {
  return readList(v, path, lim, false);
}

function readList(v: Value | undefined, path: string, lim: RequestListLimits, fastPath: boolean): ClientRequest[] {
  if (Array.isArray(v)) return readArray(v, path, lim.maxRequests).map((x, i) => (fastPath ? wellFormed(x, lim, undefined, undefined) : undefined) ?? readPlain(x, `${path}[${i}]`, lim, 3));
  const m = readMap(v, path, ['g', 'r']);
  const rawGroups = readArray(m['g'], `${path}.g`, lim.maxRequests);
  // One encoding per list: a list with nothing signed has only the plain form.
  if (rawGroups.length === 0) throw new DecodeError(`${path}.g: empty (a list with no signed command is a plain array)`);
  const groups: SignedRequestGroup[] = rawGroups.map((x, i) => {
    const p = `${path}.g[${i}]`;
    const a = readArray(x, p, 3);
    if (a.length !== 3) throw new DecodeError(`${p}: expected [client, signature, digests]`);
    const blob = readBytes(a[2], `${p}.digests`, { max: 32 * MAX_GROUP_SIZE });
    if (blob.length === 0 || blob.length % 32 !== 0) throw new DecodeError(`${p}.digests: ${blob.length} bytes is not 1..${MAX_GROUP_SIZE} digests of 32 bytes`);
    // One copy of the blob (it may be a view into a whole frame, which the group would otherwise
    // keep alive), then views into that copy: not one allocation per digest.
    const own = blob.slice();
    const digests: Uint8Array[] = [];
    for (let at = 0; at < own.length; at += 32) digests.push(own.subarray(at, at + 32));
    return {
      client: readString(a[0], `${p}.client`, lim.maxIdLength),
      signature: readBytes(a[1], `${p}.signature`, { max: lim.maxSignatureBytes }),
      digests,
    };
  });
  const used = new Array<boolean>(groups.length).fill(false);
  const list = readArray(m['r'], `${path}.r`, lim.maxRequests).map((x, i): ClientRequest => {
    const fast = fastPath ? wellFormed(x, lim, groups, used) : undefined;
    if (fast) return fast;
    const p = `${path}.r[${i}]`;
    const a = readArray(x, p, 5);
    if (a.length === 3) return readPlain(x, p, lim, 3);
    const plain = readPlain(x, p, lim, 5);
    const gi = readUint(a[3], `${p}.group`, groups.length - 1);
    const group = groups[gi]!;
    const index = readUint(a[4], `${p}.position`, group.digests.length - 1);
    if (group.client !== plain.client) throw new DecodeError(`${p}: command of ${JSON.stringify(plain.client)} in a group of ${JSON.stringify(group.client)}`);
    used[gi] = true;
    return { ...plain, auth: { group, index } };
  });
  const unused = used.indexOf(false);
  if (unused >= 0) throw new DecodeError(`${path}.g[${unused}]: no command uses this group`);
  return list;
}

/**
 * The request `x` holds if it is well formed, read without building the error paths the checking
 * readers below take; `undefined` otherwise, and the caller reads it again with them, which names
 * what is wrong. Lists of thousands of requests arrive in every batch and block, and building those
 * paths (six strings per request) cost about as much as decoding the CBOR. Accepts nothing the
 * checking path refuses, and returns what it would (`readRequestListChecked`: the tests compare the
 * two on mutated lists). `groups` undefined: the plain form, `[client, seq, payload]` only.
 */
function wellFormed(x: Value, lim: RequestListLimits, groups: readonly SignedRequestGroup[] | undefined, used: boolean[] | undefined): ClientRequest | undefined {
  if (!Array.isArray(x) || (x.length !== 3 && (x.length !== 5 || !groups))) return undefined;
  const client = x[0];
  const seq = x[1];
  const payload = x[2];
  // `?? 1024`: readString's own default, for a caller (untyped) that leaves the limit out.
  if (typeof client !== 'string' || client.length > (lim.maxIdLength ?? 1024)) return undefined;
  if (!(payload instanceof Uint8Array) || payload.length > lim.maxPayloadBytes) return undefined;
  const s = u64Of(seq);
  if (s === undefined) return undefined;
  if (x.length === 3) return { client, seq: s, payload };
  const gi = x[3];
  const index = x[4];
  if (typeof gi !== 'number' || !Number.isSafeInteger(gi) || gi < 0 || gi >= groups!.length) return undefined;
  const group = groups![gi]!;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= group.digests.length) return undefined;
  if (group.client !== client) return undefined;
  used![gi] = true;
  return { client, seq: s, payload, auth: { group, index } };
}

function readPlain(v: Value, path: string, lim: RequestListLimits, len: 3 | 5): ClientRequest {
  const a = readArray(v, path, 5);
  if (a.length !== len) throw new DecodeError(`${path}: expected ${len === 3 ? '[client, seq, payload]' : '[client, seq, payload, group, position]'}`);
  return {
    client: readString(a[0], `${path}.client`, lim.maxIdLength),
    seq: readU64(a[1], `${path}.seq`),
    payload: readBytes(a[2], `${path}.payload`, { max: lim.maxPayloadBytes }),
  };
}
