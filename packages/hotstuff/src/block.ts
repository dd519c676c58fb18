/** Block hashing and the genesis block. */
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, Hasher } from '@phalanx/interface';
import { encode, signingBytes, utf8 } from '@phalanx/codec';
import { sha256 } from '@noble/hashes/sha2.js';
import { headerToValue, LIMITS } from './codec.js';
import type { Block, QuorumCert } from './types.js';

/** SHA-256 (DESIGN §5: SHA-256 on the hot path) from @noble/hashes: pure JS, so the core stays sans-I/O. */
export const sha256Hasher: Hasher = { algorithm: 'sha256', digest: (data) => sha256(data) };

const clientBytes = new Map<string, Uint8Array>();
function clientUtf8(client: string): Uint8Array {
  let b = clientBytes.get(client);
  if (!b) {
    b = utf8.encode(client);
    if (clientBytes.size < 4096) clientBytes.set(client, b);
  }
  return b;
}

/**
 * The commands of a block in one canonical, injective framing: "phalanx/hotstuff/cmds/v1" ‖
 * count ‖ for each command: len(client) ‖ client ‖ seq ‖ len(payload) ‖ payload (fixed-width
 * big-endian integers). Written in one pass; hashed for the block header and embedded as one byte
 * string in commit proofs and log records (CBOR-encoding thousands of small arrays per block was
 * the largest per-command cost).
 */
export function frameCommands(cmds: readonly ClientRequest[]): Uint8Array {
  let size = CMDS_TAG.length + 4;
  for (const c of cmds) size += 4 + clientUtf8(c.client).length + 8 + 4 + c.payload.length;
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  buf.set(CMDS_TAG, 0);
  let at = CMDS_TAG.length;
  view.setUint32(at, cmds.length);
  at += 4;
  for (const c of cmds) {
    const id = clientUtf8(c.client);
    view.setUint32(at, id.length);
    buf.set(id, at + 4);
    at += 4 + id.length;
    view.setBigUint64(at, c.seq);
    view.setUint32(at + 8, c.payload.length);
    buf.set(c.payload, at + 12);
    at += 12 + c.payload.length;
  }
  return buf;
}

/** Parses `frameCommands` output, bounding every count and length; throws `DecodeError`. */
export function parseCommandFrame(buf: Uint8Array, path: string): ClientRequest[] {
  const fail = (why: string): never => {
    throw new DecodeError(`${path}: ${why}`);
  };
  if (buf.length < CMDS_TAG.length + 4) fail('truncated command frame');
  for (let i = 0; i < CMDS_TAG.length; i++) if (buf[i] !== CMDS_TAG[i]) fail('not a command frame');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = CMDS_TAG.length;
  const count = view.getUint32(at);
  at += 4;
  if (count > LIMITS.maxCommandsPerBlock) fail(`${count} commands exceed ${LIMITS.maxCommandsPerBlock}`);
  const out: ClientRequest[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > buf.length) fail('truncated command frame');
    const idLen = view.getUint32(at);
    if (idLen > LIMITS.maxIdLength * 4 || at + 4 + idLen + 12 > buf.length) fail(`command ${i}: bad client length`);
    const client = utf8.decode(buf.subarray(at + 4, at + 4 + idLen));
    if (client.length > LIMITS.maxIdLength) fail(`command ${i}: client id too long`);
    at += 4 + idLen;
    const seq = view.getBigUint64(at);
    const len = view.getUint32(at + 8);
    if (len > LIMITS.maxPayloadBytes || at + 12 + len > buf.length) fail(`command ${i}: bad payload length`);
    out.push({ client, seq, payload: buf.slice(at + 12, at + 12 + len) });
    at += 12 + len;
  }
  if (at !== buf.length) fail('trailing bytes in command frame');
  return out;
}

export function commandsDigest(hasher: Hasher, b: Block): Uint8Array {
  return hasher.digest(frameCommands(b.commands));
}

const CMDS_TAG = utf8.encode('phalanx/hotstuff/cmds/v1');

/** hash(b) = H(header), header = all fields with the commands replaced by their digest. */
export function blockHash(hasher: Hasher, b: Block): Uint8Array {
  return blockHashParts(hasher, b).hash;
}

/**
 * Hashes already computed, per block object and hasher: the runtime's preverifier hashes a proposal
 * (for the leader's signature) just before the core does, and a block of a few hundred commands
 * costs ~0.1 ms. Blocks are immutable (readonly, decoded or built once), so the object is its key.
 */
const hashed = new WeakMap<Block, { readonly hasher: Hasher; readonly hash: Uint8Array; readonly cmdDigest: Uint8Array }>();

/** The block hash and the commands digest inside it (computed once, both needed by the tree). */
export function blockHashParts(hasher: Hasher, b: Block): { hash: Uint8Array; cmdDigest: Uint8Array } {
  const known = hashed.get(b);
  if (known !== undefined && known.hasher === hasher) return { hash: known.hash.slice(), cmdDigest: known.cmdDigest.slice() };
  const cmdDigest = commandsDigest(hasher, b);
  const hash = hasher.digest(encode(headerToValue(b, cmdDigest)));
  hashed.set(b, { hasher, hash: hash.slice(), cmdDigest: cmdDigest.slice() });
  return { hash, cmdDigest };
}

export function genesisHash(hasher: Hasher, chainId: string): Uint8Array {
  return hasher.digest(signingBytes('phalanx/hotstuff/genesis/v1', chainId, null));
}

/** The QC every chain starts from: view 0, height 0, no signatures (HotStuff §4.1: b0 with qc0). */
export function genesisQC(hasher: Hasher, chainId: string): QuorumCert {
  return { view: 0n, height: 0n, block: genesisHash(hasher, chainId), sig: new Uint8Array(0) };
}

export function genesisBlock(hasher: Hasher, chainId: string): Block {
  const qc = genesisQC(hasher, chainId);
  return { parent: new Uint8Array(32), height: 0n, view: 0n, proposer: '', justify: qc, election: new Uint8Array(0), commands: [] };
}

export function isGenesisQC(qc: QuorumCert, genesis: QuorumCert): boolean {
  if (qc.view !== 0n || qc.height !== 0n || qc.sig.length !== 0) return false;
  const a = qc.block;
  const b = genesis.block;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
