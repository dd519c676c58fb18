/**
 * Signed command groups. A client signs the digests of a group of its commands once; each command
 * then carries a pointer to the group. A replica checks a command by recomputing its digest,
 * finding it at its place in the group, and verifying the group's signature — once per group
 * object, whatever the number of commands that point at it.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { EncodeError, U64_MAX, utf8 } from '@phalanx/codec';
import { ArgumentError } from '@phalanx/interface';
import type { ClientRequest, Hasher, NodeId, RequestAuthenticator, SignedRequestGroup, Signer, Verifier, VerifyItem } from '@phalanx/interface';

/** Most commands under one signature: bounds the digests a batch carries for one partly included group. */
export const MAX_GROUP_SIZE = 128;
/** Domain of the signed message, so a group signature can never be mistaken for any other signature. */
export const GROUP_DOMAIN = 'phalanx/client-requests/1';

const portable: Hasher = { algorithm: 'sha256', digest: (d) => nobleSha256(d) };

/**
 * SHA-256(u64be(seq) ‖ payload): a command's digest inside its group. The client is bound by the
 * group. A seq outside u64 cannot be written there: `EncodeError`.
 */
export function requestDigest(seq: bigint, payload: Uint8Array, hasher: Hasher = portable): Uint8Array {
  // setBigUint64 silently wraps modulo 2^64: without this, seq 2^64 + 5 (or -1) would get the
  // digest of seq 5 (or 2^64 - 1), so a signature over one would pass for the other.
  if (seq < 0n || seq > U64_MAX) throw new EncodeError(`a command seq is a u64, got ${seq}`);
  const buf = new Uint8Array(8 + payload.length);
  new DataView(buf.buffer).setBigUint64(0, seq);
  buf.set(payload, 8);
  return hasher.digest(buf);
}

/**
 * Where a signature counts: the network (`chainId`), so that a command signed for one network
 * cannot be replayed on another that lists the same client id and key.
 */
export interface SigningScope {
  readonly chainId: string;
  /** Default: portable SHA-256 (@noble/hashes). The runtime passes node:crypto's. */
  readonly hasher?: Hasher;
}

/**
 * What the client signs: SHA-256(domain ‖ 0 ‖ u32be(len chainId) ‖ chainId ‖ u32be(len client) ‖
 * client ‖ u32be(count) ‖ digests). A digest of another length than 32 bytes is an `ArgumentError`.
 */
export function groupMessage(client: NodeId, digests: readonly Uint8Array[], scope: SigningScope): Uint8Array {
  const domain = utf8.encode(GROUP_DOMAIN);
  const chain = utf8.encode(scope.chainId);
  const id = utf8.encode(client);
  const buf = new Uint8Array(domain.length + 1 + 4 + chain.length + 4 + id.length + 4 + 32 * digests.length);
  const view = new DataView(buf.buffer);
  let at = 0;
  buf.set(domain, at);
  at += domain.length + 1;
  for (const part of [chain, id]) {
    view.setUint32(at, part.length);
    buf.set(part, at + 4);
    at += 4 + part.length;
  }
  view.setUint32(at, digests.length);
  at += 4;
  for (const d of digests) {
    if (d.length !== 32) throw new ArgumentError('digests', `a command digest is 32 bytes, got ${d.length}`);
    buf.set(d, at);
    at += 32;
  }
  return (scope.hasher ?? portable).digest(buf);
}

export interface UnsignedRequest {
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

/**
 * Commands built here from their own bytes: their digests match their places by construction, so
 * `check` need not hash them again (the runtime builds every admitted command this way, and the
 * core checks each once more). Copies, and commands decoded from the wire, are not in it.
 */
const builtFromBytes = new WeakSet<ClientRequest>();

/** `ArgumentError` unless `items` can be one signed group (1..`MAX_GROUP_SIZE` commands). */
function checkGroupSize(items: readonly UnsignedRequest[]): void {
  if (items.length === 0 || items.length > MAX_GROUP_SIZE) throw new ArgumentError('items', `a signed group has 1..${MAX_GROUP_SIZE} commands, got ${items.length}`);
}

function attach(client: NodeId, items: readonly UnsignedRequest[], digests: Uint8Array[], signature: Uint8Array): ClientRequest[] {
  const group: SignedRequestGroup = { client, digests, signature };
  return items.map((r, index) => {
    const out: ClientRequest = { client, seq: r.seq, payload: r.payload, auth: { group, index } };
    builtFromBytes.add(out);
    return out;
  });
}

/**
 * Attaches `signature` to `items` as one group of `client`'s, returning the commands that point at
 * it. Used by a replica rebuilding a group from a client's frame. The signature is not checked here.
 */
export function groupOf(client: NodeId, items: readonly UnsignedRequest[], signature: Uint8Array, hasher: Hasher = portable): ClientRequest[] {
  checkGroupSize(items);
  return attach(client, items, items.map((r) => requestDigest(r.seq, r.payload, hasher)), signature);
}

/** The signature over one group of 1..`MAX_GROUP_SIZE` of `client`'s commands (what a client frame carries per run). */
export function signGroup(signer: Signer, client: NodeId, items: readonly UnsignedRequest[], scope: SigningScope): Uint8Array {
  checkGroupSize(items);
  const hasher = scope.hasher ?? portable;
  return signer.sign(groupMessage(client, items.map((r) => requestDigest(r.seq, r.payload, hasher)), scope));
}

/** Signs `items` in groups of at most `MAX_GROUP_SIZE` for `scope.chainId` and returns them as signed commands, in order. */
export function signRequests(signer: Signer, client: NodeId, items: readonly UnsignedRequest[], scope: SigningScope): ClientRequest[] {
  const hasher = scope.hasher ?? portable;
  const out: ClientRequest[] = [];
  for (let i = 0; i < items.length; i += MAX_GROUP_SIZE) {
    const part = items.slice(i, i + MAX_GROUP_SIZE);
    const digests = part.map((r) => requestDigest(r.seq, r.payload, hasher));
    out.push(...attach(client, part, digests, signer.sign(groupMessage(client, digests, scope))));
  }
  return out;
}

export interface AuthenticatorOptions {
  /** The network's chain id: signatures made for another network are refused. */
  readonly chainId: string;
  /** The public key (scheme-tagged) of a client, or undefined for an id that is no client. */
  readonly keyOf: (client: NodeId) => Uint8Array | undefined;
  /** Checks signatures; pass the runtime's cache-backed verifier so pre-verified groups cost nothing. */
  readonly verifier: Verifier;
  /** Default: portable SHA-256 (@noble/hashes). The runtime passes node:crypto's. */
  readonly hasher?: Hasher;
}

/**
 * A `RequestAuthenticator` over a fixed client directory. It remembers each group object it
 * verified (weakly: a group lives as long as the commands pointing at it), so checking the 128
 * commands of one group costs one signature verification and 128 hashes.
 */
export function createRequestAuthenticator(o: AuthenticatorOptions): RequestAuthenticator {
  const hasher = o.hasher ?? portable;
  const verdicts = new WeakMap<SignedRequestGroup, string | undefined>();
  /** Why `g` is refused before any signature check, or the check to make. */
  const examine = (g: SignedRequestGroup): string | VerifyItem => {
    if (!Array.isArray(g.digests) || g.digests.length === 0 || g.digests.length > MAX_GROUP_SIZE) return `a signed group has 1..${MAX_GROUP_SIZE} commands, got ${String(g.digests?.length)}`;
    if (g.digests.some((d) => !(d instanceof Uint8Array) || d.length !== 32)) return 'a command digest is not 32 bytes';
    if (typeof g.client !== 'string') return 'no client id';
    const key = o.keyOf(g.client);
    if (!key) return `unknown client ${JSON.stringify(g.client)}`;
    if (!(g.signature instanceof Uint8Array)) return 'no signature';
    return { publicKey: key, message: groupMessage(g.client, g.digests, { chainId: o.chainId, hasher }), signature: g.signature };
  };
  const judgeGroup = (g: SignedRequestGroup): string | undefined => {
    const item = examine(g);
    if (typeof item === 'string') return item;
    return o.verifier.verify(item.publicKey, item.message, item.signature) ? undefined : `bad signature of client ${JSON.stringify(g.client)}`;
  };
  return {
    knows: (client) => o.keyOf(client) !== undefined,
    verifyItem(g) {
      // Same bytes as `judgeGroup` verifies, so a pool's verdict lands where `check` looks. Never
      // throws: a runtime lists these for whatever a peer or client sent.
      try {
        const item = g && !verdicts.has(g) ? examine(g) : undefined;
        return typeof item === 'object' ? item : undefined;
      } catch {
        return undefined;
      }
    },
    check(r) {
      // Callers need not have bounded the command (an in-process one never crossed a codec): a
      // seq outside u64 would wrap in its digest and pass as another command's.
      if (typeof r.seq !== 'bigint' || r.seq < 0n || r.seq > U64_MAX) return `command seq ${String(r.seq)} is not a u64`;
      if (!(r.payload instanceof Uint8Array)) return `command ${r.seq}: payload is not bytes`;
      const auth = r.auth;
      if (!auth) return `command ${r.seq} of ${JSON.stringify(r.client)} is not signed`;
      const g = auth.group;
      if (g.client !== r.client) return `command of ${JSON.stringify(r.client)} in a group signed for ${JSON.stringify(g.client)}`;
      let verdict: string | undefined;
      if (verdicts.has(g)) verdict = verdicts.get(g);
      else {
        verdict = judgeGroup(g);
        verdicts.set(g, verdict);
      }
      if (verdict !== undefined) return verdict;
      const expected = Number.isInteger(auth.index) ? g.digests[auth.index] : undefined;
      if (!expected) return `command ${r.seq}: position ${auth.index} is outside its signed group`;
      if (builtFromBytes.has(r)) return undefined;
      const actual = requestDigest(r.seq, r.payload, hasher);
      for (let i = 0; i < 32; i++) if (actual[i] !== expected[i]) return `command ${r.seq} of ${JSON.stringify(r.client)} does not match what its client signed`;
      return undefined;
    },
  };
}
