/**
 * Wire format. Every message is canonical CBOR (@phalanx/codec) in a positional array whose first
 * item is a small tag. Decoding bounds every field before trusting it — counts, byte lengths,
 * string lengths, integer ranges — and throws `DecodeError` naming the path, so a malformed frame
 * from a Byzantine peer becomes an error value instead of a crash or an oversized allocation.
 */
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, MessageCodec } from '@phalanx/interface';
import { decode, encode, readArray, readBool, readBytes, readString, readU64, readUint } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { readRequestList, requestListValue } from '@phalanx/client-auth';
import type { Block, CheckpointVote, HotStuffMessage, QuorumCert, StateCert, TimeoutCert, TimeoutVote } from './types.js';

/** Limits applied while decoding. Exported so operators can see (and tests can pin) them. */
export const LIMITS = {
  maxFrameBytes: 64 * 1024 * 1024,
  hashBytes: 32,
  maxIdLength: 256,
  maxSignatureBytes: 8192,
  /** Certificate bytes: a list of up to `maxValidators` signatures, or one aggregate. */
  maxCertBytes: 4 * 1024 * 1024,
  maxValidators: 1024,
  maxCommandsPerBlock: 65_536,
  maxPayloadBytes: 1024 * 1024,
  maxElectionProofBytes: 64,
  maxBlocksPerResponse: 64,
  maxRequestsPerMessage: 65_536,
  /** One piece of a transferred state (the `stateChunkBytes` config is at most this). */
  maxStatePieceBytes: 16 * 1024 * 1024,
  /** A transferred state's size (`maxStateBytes` is at most this). */
  maxStateBytes: 2 ** 32 - 1,
} as const;

const TAG = { proposal: 0, vote: 1, timeout: 2, requestBlocks: 3, blocks: 4, requests: 5, status: 6, checkpoint: 7, requestState: 8, state: 9 } as const;

export function qcToValue(qc: QuorumCert): Value {
  return [qc.view, qc.height, qc.block, qc.sig];
}

export function qcFromValue(v: Value | undefined, path: string): QuorumCert {
  const a = readArray(v, path);
  if (a.length !== 4) throw new DecodeError(`${path}: expected [view, height, block, sig]`);
  return {
    view: readU64(a[0], `${path}.view`),
    height: readU64(a[1], `${path}.height`),
    block: readBytes(a[2], `${path}.block`, { exact: LIMITS.hashBytes }),
    sig: readBytes(a[3], `${path}.sig`, { max: LIMITS.maxCertBytes }),
  };
}

export function tcToValue(tc: TimeoutCert): Value {
  return [tc.view, qcToValue(tc.highQC), tc.votes.map((x) => [x.voter, x.highQCView, x.signature])];
}

export function tcFromValue(v: Value | undefined, path: string): TimeoutCert {
  const a = readArray(v, path);
  if (a.length !== 3) throw new DecodeError(`${path}: expected [view, highQC, votes]`);
  const votes: TimeoutVote[] = readArray(a[2], `${path}.votes`, LIMITS.maxValidators).map((x, i) => {
    const p = `${path}.votes[${i}]`;
    const t = readArray(x, p);
    if (t.length !== 3) throw new DecodeError(`${p}: expected [voter, highQCView, signature]`);
    return {
      voter: readString(t[0], `${p}.voter`, LIMITS.maxIdLength),
      highQCView: readU64(t[1], `${p}.highQCView`),
      signature: readBytes(t[2], `${p}.signature`, { max: LIMITS.maxSignatureBytes }),
    };
  });
  return { view: readU64(a[0], `${path}.view`), highQC: qcFromValue(a[1], `${path}.highQC`), votes };
}

/**
 * Command lists (blocks, relayed requests) in `@phalanx/client-auth`'s request-list form: unsigned
 * commands as `[[client, seq, payload], …]`, exactly as before client signatures existed; with
 * signatures, a map carrying each signed group once per list (so a group split over two blocks
 * travels with each of them). Block hashes never read this encoding (`frameCommands` hashes
 * client, seq and payload only), so how signatures travel does not change a block's identity.
 */
export function commandsToValue(commands: readonly ClientRequest[]): Value {
  return requestListValue(commands);
}

/** Reads `commandsToValue` output: at most `maxRequests` commands, every field bounded. */
export function commandsFromValue(v: Value | undefined, path: string, maxRequests: number): ClientRequest[] {
  return readRequestList(v, path, {
    maxRequests,
    maxPayloadBytes: LIMITS.maxPayloadBytes,
    maxIdLength: LIMITS.maxIdLength,
    maxSignatureBytes: LIMITS.maxSignatureBytes,
  });
}

/** The header: every block field except the commands, which enter through their digest. */
export function headerToValue(b: Block, commandsDigest: Uint8Array): Value {
  return [b.parent, b.height, b.view, b.proposer, qcToValue(b.justify), b.election, commandsDigest];
}

export function blockToValue(b: Block): Value {
  return [b.parent, b.height, b.view, b.proposer, qcToValue(b.justify), b.election, commandsToValue(b.commands)];
}

/**
 * Every field of a 7-field block array but the commands (`a[6]`), bounded: shared by the wire form
 * (`blockFromValue`) and the framed form of commit proofs and the hard state (`proofTarget`).
 */
export function blockHeaderFields(a: readonly Value[], path: string): Omit<Block, 'commands'> {
  return {
    parent: readBytes(a[0], `${path}.parent`, { exact: LIMITS.hashBytes }),
    height: readU64(a[1], `${path}.height`),
    view: readU64(a[2], `${path}.view`),
    proposer: readString(a[3], `${path}.proposer`, LIMITS.maxIdLength),
    justify: qcFromValue(a[4], `${path}.justify`),
    election: readBytes(a[5], `${path}.election`, { max: LIMITS.maxElectionProofBytes }),
  };
}

export function blockFromValue(v: Value | undefined, path: string): Block {
  const a = readArray(v, path);
  if (a.length !== 7) throw new DecodeError(`${path}: expected a block of 7 fields`);
  return { ...blockHeaderFields(a, path), commands: commandsFromValue(a[6], `${path}.commands`, LIMITS.maxCommandsPerBlock) };
}

function checkpointVotesToValue(votes: readonly CheckpointVote[]): Value {
  return votes.map((v) => [v.voter, v.signature]);
}

function checkpointVotesFromValue(v: Value | undefined, path: string): CheckpointVote[] {
  const list = readArray(v, path, LIMITS.maxValidators);
  if (list.length === 0) throw new DecodeError(`${path}: at least one vote`);
  return list.map((x, i) => {
    const t = readArray(x, `${path}[${i}]`);
    if (t.length !== 2) throw new DecodeError(`${path}[${i}]: expected [voter, signature]`);
    return { voter: readString(t[0], `${path}[${i}].voter`, LIMITS.maxIdLength), signature: readBytes(t[1], `${path}[${i}].signature`, { max: LIMITS.maxSignatureBytes }) };
  });
}

function stateCertFromValue(v: Value | undefined, path: string): StateCert {
  const a = readArray(v, path);
  if (a.length !== 4) throw new DecodeError(`${path}: expected [block, state, votes, proof]`);
  return {
    block: readBytes(a[0], `${path}.block`, { exact: LIMITS.hashBytes }),
    state: readBytes(a[1], `${path}.state`, { exact: LIMITS.hashBytes }),
    votes: checkpointVotesFromValue(a[2], `${path}.votes`),
    proof: readBytes(a[3], `${path}.proof`, { max: LIMITS.maxFrameBytes }),
  };
}

function messageToValue(m: HotStuffMessage): Value {
  switch (m.type) {
    case 'proposal':
      return [TAG.proposal, blockToValue(m.block), m.signature, m.tc ? tcToValue(m.tc) : null];
    case 'vote':
      return [TAG.vote, m.view, m.height, m.block, m.share];
    case 'timeout':
      return [TAG.timeout, m.view, qcToValue(m.highQC), m.signature, m.tc ? tcToValue(m.tc) : null];
    case 'request-blocks':
      return [TAG.requestBlocks, m.hash, m.count];
    case 'blocks':
      return [TAG.blocks, m.blocks.map(blockToValue)];
    case 'requests':
      return [TAG.requests, commandsToValue(m.requests)];
    case 'status':
      return [TAG.status, qcToValue(m.highQC), m.reply];
    case 'checkpoint':
      return [TAG.checkpoint, m.height, m.block, m.state, m.size, checkpointVotesToValue(m.votes)];
    case 'request-state':
      return [TAG.requestState, m.height, m.offset, m.length];
    case 'state':
      return [TAG.state, m.height, m.offset, m.total, m.data, m.cert ? [m.cert.block, m.cert.state, checkpointVotesToValue(m.cert.votes), m.cert.proof] : null];
  }
}

function messageFromValue(v: Value): HotStuffMessage {
  const a = readArray(v, 'message');
  const tag = readUint(a[0], 'message.tag', 255);
  const arity = (n: number, what: string): void => {
    if (a.length !== n) throw new DecodeError(`message: ${what} needs ${n} fields, got ${a.length}`);
  };
  switch (tag) {
    case TAG.proposal:
      arity(4, 'proposal');
      return {
        type: 'proposal',
        block: blockFromValue(a[1], 'proposal.block'),
        signature: readBytes(a[2], 'proposal.signature', { max: LIMITS.maxSignatureBytes }),
        ...(a[3] === null ? {} : { tc: tcFromValue(a[3], 'proposal.tc') }),
      };
    case TAG.vote:
      arity(5, 'vote');
      return {
        type: 'vote',
        view: readU64(a[1], 'vote.view'),
        height: readU64(a[2], 'vote.height'),
        block: readBytes(a[3], 'vote.block', { exact: LIMITS.hashBytes }),
        share: readBytes(a[4], 'vote.share', { max: LIMITS.maxSignatureBytes }),
      };
    case TAG.timeout:
      arity(5, 'timeout');
      return {
        type: 'timeout',
        view: readU64(a[1], 'timeout.view'),
        highQC: qcFromValue(a[2], 'timeout.highQC'),
        signature: readBytes(a[3], 'timeout.signature', { max: LIMITS.maxSignatureBytes }),
        ...(a[4] === null ? {} : { tc: tcFromValue(a[4], 'timeout.tc') }),
      };
    case TAG.requestBlocks:
      arity(3, 'request-blocks');
      return {
        type: 'request-blocks',
        hash: readBytes(a[1], 'request-blocks.hash', { exact: LIMITS.hashBytes }),
        count: readUint(a[2], 'request-blocks.count', LIMITS.maxBlocksPerResponse),
      };
    case TAG.blocks:
      arity(2, 'blocks');
      return {
        type: 'blocks',
        blocks: readArray(a[1], 'blocks.blocks', LIMITS.maxBlocksPerResponse).map((b, i) =>
          blockFromValue(b, `blocks.blocks[${i}]`),
        ),
      };
    case TAG.requests:
      arity(2, 'requests');
      return {
        type: 'requests',
        requests: commandsFromValue(a[1], 'requests.requests', LIMITS.maxRequestsPerMessage),
      };
    case TAG.status:
      arity(3, 'status');
      return { type: 'status', highQC: qcFromValue(a[1], 'status.highQC'), reply: readBool(a[2], 'status.reply') };
    case TAG.checkpoint:
      arity(6, 'checkpoint');
      return {
        type: 'checkpoint',
        height: readU64(a[1], 'checkpoint.height'),
        block: readBytes(a[2], 'checkpoint.block', { exact: LIMITS.hashBytes }),
        state: readBytes(a[3], 'checkpoint.state', { exact: LIMITS.hashBytes }),
        size: readUint(a[4], 'checkpoint.size', LIMITS.maxStateBytes),
        votes: checkpointVotesFromValue(a[5], 'checkpoint.votes'),
      };
    case TAG.requestState:
      arity(4, 'request-state');
      return {
        type: 'request-state',
        height: readU64(a[1], 'request-state.height'),
        offset: readUint(a[2], 'request-state.offset', LIMITS.maxStateBytes),
        length: readUint(a[3], 'request-state.length', LIMITS.maxStatePieceBytes),
      };
    case TAG.state: {
      arity(6, 'state');
      const offset = readUint(a[2], 'state.offset', LIMITS.maxStateBytes);
      const total = readUint(a[3], 'state.total', LIMITS.maxStateBytes);
      const data = readBytes(a[4], 'state.data', { max: LIMITS.maxStatePieceBytes });
      if (offset + data.length > total) throw new DecodeError(`state: piece ${offset}+${data.length} runs past the state's ${total} bytes`);
      const cert = a[5] === null ? undefined : stateCertFromValue(a[5], 'state.cert');
      if ((cert !== undefined) !== (offset === 0)) throw new DecodeError('state: the first piece, and only it, carries the certificate');
      return { type: 'state', height: readU64(a[1], 'state.height'), offset, total, data, ...(cert ? { cert } : {}) };
    }
    default:
      throw new DecodeError(`message: unknown tag ${tag}`);
  }
}

export function encodeMessage(m: HotStuffMessage): Uint8Array {
  return encode(messageToValue(m));
}

/** Decodes one frame; throws `DecodeError` on anything that is not a well-formed, bounded message. */
export function decodeMessage(bytes: Uint8Array): HotStuffMessage {
  return messageFromValue(decode(bytes, { maxBytes: LIMITS.maxFrameBytes, maxDepth: 8 }));
}

export const hotstuffCodec: MessageCodec<HotStuffMessage> = { encode: encodeMessage, decode: decodeMessage };
