/**
 * PBFT wire messages (Castro & Liskov, OSDI '99 §4; TOCS 2002 §4) and their bounded codec.
 *
 * PRE-PREPARE, PREPARE, COMMIT and CHECKPOINT are signed in the shared `@phalanx/quorum` vote format
 * (kind "pbft/…", height = sequence number, round = view), so a commit certificate or equivocation
 * evidence is checkable offline with only the validator set. The other messages are signed over
 * their canonical encoding under the "phalanx/pbft/v1" domain.
 */
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, MessageCodec, NodeId } from '@phalanx/interface';
import { decode, encode, readArray, readBytes, readString, readU64, readUint } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { readRequestList, requestListValue } from '@phalanx/client-auth';

export const KIND_PRE_PREPARE = 'pbft/pre-prepare';
export const KIND_PREPARE = 'pbft/prepare';
export const KIND_COMMIT = 'pbft/commit';
export const KIND_CHECKPOINT = 'pbft/checkpoint';
export const SIGN_DOMAIN = 'phalanx/pbft/v1';

/** A signature by one member, inside a certificate whose (kind, height, round, digest) is implied. */
export interface VoterSig {
  readonly voter: NodeId;
  readonly signature: Uint8Array;
}

/** ⟨PRE-PREPARE, v, n, d⟩σp with the batch m piggybacked (§4.2). */
export interface PrePrepareMsg {
  readonly type: 'pre-prepare';
  readonly view: bigint;
  readonly seq: bigint;
  readonly digest: Uint8Array;
  readonly batch: readonly ClientRequest[];
  readonly signature: Uint8Array;
}

/**
 * A pre-prepare without its batch: ⟨PRE-PREPARE, v, n, d⟩σp. VIEW-CHANGE and NEW-VIEW carry these
 * (§4.4: "a valid pre-prepare message (without the corresponding client message)"): the signature
 * covers only the digest, and with the batches inside, one VIEW-CHANGE under load outgrew any
 * frame a transport will carry (a window of full batches), so a view change could never finish.
 * Replicas that lack a batch named in NEW-VIEW fetch it by digest (`FetchBatchMsg`).
 */
export interface PrePrepareRef {
  readonly view: bigint;
  readonly seq: bigint;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
}

/** ⟨PREPARE | COMMIT, v, n, d, i⟩σi (§4.2). */
export interface VoteMsg {
  readonly type: 'prepare' | 'commit';
  readonly voter: NodeId;
  readonly view: bigint;
  readonly seq: bigint;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
}

/** ⟨CHECKPOINT, n, d, i⟩σi (§4.3). `digest` is the checkpoint digest (see `checkpointDigest`). */
export interface CheckpointMsg {
  readonly type: 'checkpoint';
  readonly voter: NodeId;
  readonly seq: bigint;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
}

/** 2f+1 signed CHECKPOINTs for (seq, digest): the proof C of a stable checkpoint (§4.3). */
export interface CheckpointProof {
  readonly seq: bigint;
  readonly digest: Uint8Array;
  readonly votes: readonly VoterSig[];
}

/** A prepared certificate: the pre-prepare and 2f matching PREPAREs from backups (§4.4 set P). */
export interface PreparedCert {
  readonly prePrepare: PrePrepareRef;
  readonly prepares: readonly VoterSig[];
}

/** ⟨VIEW-CHANGE, v+1, n, C, P, i⟩σi (§4.4). */
export interface ViewChangeMsg {
  readonly type: 'view-change';
  readonly replica: NodeId;
  readonly newView: bigint;
  readonly stable: CheckpointProof;
  readonly prepared: readonly PreparedCert[];
  readonly signature: Uint8Array;
}

/** ⟨NEW-VIEW, v+1, V, O⟩σp (§4.4). */
export interface NewViewMsg {
  readonly type: 'new-view';
  readonly view: bigint;
  readonly viewChanges: readonly ViewChangeMsg[];
  readonly prePrepares: readonly PrePrepareRef[];
  readonly signature: Uint8Array;
}

/**
 * "Send me the batch with digest `digest` that NEW-VIEW assigned to `seq`": asked of the replicas
 * that prepared it (their PREPAREs are in the certificate), so at least f+1 correct ones hold it.
 * Unsigned: the channel names the sender, and the answer is checked against the digest.
 */
export interface FetchBatchMsg {
  readonly type: 'fetch-batch';
  readonly seq: bigint;
  readonly digest: Uint8Array;
}

/** The answer to FETCH-BATCH; accepted only if asked for and if the batch hashes to the digest. */
export interface BatchMsg {
  readonly type: 'batch';
  readonly seq: bigint;
  readonly batch: readonly ClientRequest[];
}

/**
 * Client requests forwarded by a backup to the primary (§4.1), all those of one Ready in one
 * message. Not signed by the backup: in the paper the authority is the client's own
 * authenticator, which the backup merely passes on; the channel already names the sender (the
 * runtime admits frames only from validators over authenticated connections), and a signature
 * would let a backup prove nothing it could not forge anyway — it could always relay a request
 * it made up. Signing cost one signature per request at each backup and one verification at the
 * primary, which bounded throughput when clients talk to backups.
 */
export interface RequestMsg {
  readonly type: 'request';
  readonly requests: readonly ClientRequest[];
}

/**
 * State transfer: "I have executed up to `have`; send me what follows" (TOCS §6.2, simplified).
 * With `part`, it asks for the piece of the checkpoint `part.seq`'s state that starts at `part.offset`
 * (a checkpoint's state can be far larger than one frame, so it travels in pieces).
 */
export interface FetchMsg {
  readonly type: 'fetch';
  readonly have: bigint;
  readonly part?: { readonly seq: bigint; readonly offset: number };
  readonly signature: Uint8Array;
}

/**
 * One piece of a stable checkpoint's state: the bytes `snapshot ‖ clients` from `offset` on. The
 * hashes and sizes of both, with `seq` and `stateDigest`, determine the checkpoint digest that 2f+1
 * replicas signed (`proof`), so a receiver checks the certificate before it asks for any more, and
 * checks the assembled bytes against the two hashes at the end.
 */
export interface CheckpointPart {
  readonly seq: bigint;
  readonly stateDigest: Uint8Array;
  readonly snapshotHash: Uint8Array;
  readonly snapshotBytes: number;
  /** The core's execution table (which client requests ran): part of the replicated state. */
  readonly clientsHash: Uint8Array;
  readonly clientsBytes: number;
  readonly proof: readonly VoterSig[];
  readonly offset: number;
  readonly data: Uint8Array;
}

/** A committed batch with its commit certificate (2f+1 COMMITs for (view, seq, digest)). */
export interface CommittedEntry {
  readonly view: bigint;
  readonly seq: bigint;
  readonly batch: readonly ClientRequest[];
  readonly commits: readonly VoterSig[];
}

export interface StateMsg {
  readonly type: 'state';
  readonly checkpoint?: CheckpointPart;
  readonly entries: readonly CommittedEntry[];
  readonly signature: Uint8Array;
}

export type PbftMessage =
  | PrePrepareMsg
  | VoteMsg
  | CheckpointMsg
  | ViewChangeMsg
  | NewViewMsg
  | RequestMsg
  | FetchMsg
  | StateMsg
  | FetchBatchMsg
  | BatchMsg;

/** Bounds enforced while decoding; everything is checked before it is used. */
export interface CodecLimits {
  readonly maxFrameBytes: number;
  readonly maxBatchSize: number;
  readonly maxPayloadBytes: number;
  /** Signatures per certificate and VIEW-CHANGEs per NEW-VIEW (≈ the largest validator set). */
  readonly maxSignatures: number;
  /** Prepared certificates per VIEW-CHANGE, pre-prepares per NEW-VIEW, entries per STATE. */
  readonly maxEntries: number;
  /** Largest piece of checkpoint state in one STATE. */
  readonly maxSnapshotBytes: number;
}

export const DEFAULT_CODEC_LIMITS: CodecLimits = {
  maxFrameBytes: 64 * 1024 * 1024,
  maxBatchSize: 4096,
  maxPayloadBytes: 1024 * 1024,
  maxSignatures: 1024,
  maxEntries: 4096,
  maxSnapshotBytes: 64 * 1024 * 1024,
};

/** Longest id (validator or client) and largest signature (replica or client group) the codec takes. */
export const MAX_ID = 256;
const MAX_DIGEST = 64;
export const MAX_SIG = 8192;

// ---- encoding to canonical values -------------------------------------------------------------

const T_REQUEST = 0, T_PRE_PREPARE = 1, T_PREPARE = 2, T_COMMIT = 3, T_CHECKPOINT = 4;
const T_VIEW_CHANGE = 5, T_NEW_VIEW = 6, T_FETCH = 7, T_STATE = 8, T_FETCH_BATCH = 9, T_BATCH = 10;

/**
 * What a batch digest covers: `[[client, seq, payload], …]`, never the client signatures. PREPARE,
 * COMMIT and checkpoints sign this digest, so a command keeps its identity however its signature
 * travels (signed or not, its group split or whole, signatures dropped from a stored batch), and
 * unsigned batches keep the digests they had before commands were signed (stored logs and
 * certificates stay valid). It is also exactly the wire form of an unsigned list (see `listValue`).
 */
export function batchValue(batch: readonly ClientRequest[]): Value {
  return batch.map((r) => [r.client, r.seq, r.payload]);
}

/**
 * A request list as it travels and is stored: `batchValue` when nothing is signed, otherwise the
 * `@phalanx/client-auth` form carrying each signed group once (so a backup can check the commands).
 */
export const listValue = (requests: readonly ClientRequest[]): Value => requestListValue(requests);

const sigsValue = (s: readonly VoterSig[]): Value => s.map((x) => [x.voter, x.signature]);

function ppValue(m: PrePrepareMsg): Value {
  return [T_PRE_PREPARE, m.view, m.seq, m.digest, listValue(m.batch), m.signature];
}

function refValue(m: PrePrepareRef): Value {
  return [m.view, m.seq, m.digest, m.signature];
}

/** The batch-less part of a pre-prepare, as VIEW-CHANGE and NEW-VIEW carry it. */
export function refOf(m: PrePrepareRef): PrePrepareRef {
  return { view: m.view, seq: m.seq, digest: m.digest, signature: m.signature };
}

function vcBody(m: ViewChangeMsg): Value[] {
  return [
    T_VIEW_CHANGE,
    m.replica,
    m.newView,
    m.stable.seq,
    m.stable.digest,
    sigsValue(m.stable.votes),
    m.prepared.map((p) => [refValue(p.prePrepare), sigsValue(p.prepares)]),
  ];
}

/**
 * The value a non-vote message's signature covers: the message without its signature. Votes
 * (pre-prepare, prepare, commit, checkpoint) are signed with `voteSigningBytes` instead.
 */
export function signedBody(m: ViewChangeMsg | NewViewMsg | FetchMsg | StateMsg): Value {
  switch (m.type) {
    case 'view-change':
      return vcBody(m);
    case 'new-view':
      return [T_NEW_VIEW, m.view, m.viewChanges.map(toValue), m.prePrepares.map(refValue)];
    case 'fetch':
      return [T_FETCH, m.have, m.part ? [m.part.seq, m.part.offset] : null];
    case 'state': {
      const c = m.checkpoint;
      return [
        T_STATE,
        c ? [c.seq, c.stateDigest, c.snapshotHash, c.snapshotBytes, c.clientsHash, c.clientsBytes, sigsValue(c.proof), c.offset, c.data] : null,
        m.entries.map((e) => [e.view, e.seq, listValue(e.batch), sigsValue(e.commits)]),
      ];
    }
  }
}

export function toValue(m: PbftMessage): Value {
  switch (m.type) {
    case 'pre-prepare':
      return ppValue(m);
    case 'prepare':
    case 'commit':
      return [m.type === 'prepare' ? T_PREPARE : T_COMMIT, m.voter, m.view, m.seq, m.digest, m.signature];
    case 'checkpoint':
      return [T_CHECKPOINT, m.voter, m.seq, m.digest, m.signature];
    case 'request':
      return [T_REQUEST, listValue(m.requests)];
    case 'fetch-batch':
      return [T_FETCH_BATCH, m.seq, m.digest];
    case 'batch':
      return [T_BATCH, m.seq, listValue(m.batch)];
    default:
      return [...(signedBody(m) as Value[]), m.signature];
  }
}

// ---- decoding with bounds ---------------------------------------------------------------------

function tuple(v: Value | undefined, path: string, len: number): readonly Value[] {
  const a = readArray(v, path, len);
  if (a.length !== len) throw new DecodeError(`${path}: expected ${len} fields, got ${a.length}`);
  return a;
}

/** A request list (`listValue`): at most a batch of requests, signed groups checked for shape only. */
function readBatch(v: Value | undefined, path: string, lim: CodecLimits): ClientRequest[] {
  return readRequestList(v, path, { maxRequests: lim.maxBatchSize, maxPayloadBytes: lim.maxPayloadBytes, maxIdLength: MAX_ID, maxSignatureBytes: MAX_SIG });
}

function readSigs(v: Value | undefined, path: string, lim: CodecLimits): VoterSig[] {
  return readArray(v, path, lim.maxSignatures).map((x, i) => {
    const a = tuple(x, `${path}[${i}]`, 2);
    return { voter: readString(a[0], `${path}[${i}].voter`, MAX_ID), signature: readBytes(a[1], `${path}[${i}].signature`, { max: MAX_SIG }) };
  });
}

const digest = (v: Value | undefined, path: string): Uint8Array => readBytes(v, path, { max: MAX_DIGEST });
const sig = (v: Value | undefined, path: string): Uint8Array => readBytes(v, path, { max: MAX_SIG });

function readPrePrepare(v: Value | undefined, path: string, lim: CodecLimits): PrePrepareMsg {
  const a = tuple(v, path, 6);
  if (a[0] !== T_PRE_PREPARE) throw new DecodeError(`${path}: not a pre-prepare`);
  return {
    type: 'pre-prepare',
    view: readU64(a[1], `${path}.view`),
    seq: readU64(a[2], `${path}.seq`),
    digest: digest(a[3], `${path}.digest`),
    batch: readBatch(a[4], `${path}.batch`, lim),
    signature: sig(a[5], `${path}.signature`),
  };
}

function readRef(v: Value | undefined, path: string): PrePrepareRef {
  const a = tuple(v, path, 4);
  return {
    view: readU64(a[0], `${path}.view`),
    seq: readU64(a[1], `${path}.seq`),
    digest: digest(a[2], `${path}.digest`),
    signature: sig(a[3], `${path}.signature`),
  };
}

function readViewChange(v: Value | undefined, path: string, lim: CodecLimits): ViewChangeMsg {
  const a = tuple(v, path, 8);
  if (a[0] !== T_VIEW_CHANGE) throw new DecodeError(`${path}: not a view-change`);
  return {
    type: 'view-change',
    replica: readString(a[1], `${path}.replica`, MAX_ID),
    newView: readU64(a[2], `${path}.newView`),
    stable: {
      seq: readU64(a[3], `${path}.stable.seq`),
      digest: digest(a[4], `${path}.stable.digest`),
      votes: readSigs(a[5], `${path}.stable.votes`, lim),
    },
    prepared: readArray(a[6], `${path}.prepared`, lim.maxEntries).map((p, i) => {
      const pa = tuple(p, `${path}.prepared[${i}]`, 2);
      return {
        prePrepare: readRef(pa[0], `${path}.prepared[${i}].prePrepare`),
        prepares: readSigs(pa[1], `${path}.prepared[${i}].prepares`, lim),
      };
    }),
    signature: sig(a[7], `${path}.signature`),
  };
}

export function fromValue(v: Value, lim: CodecLimits = DEFAULT_CODEC_LIMITS): PbftMessage {
  const a = readArray(v, 'pbft', 16);
  const tag = readUint(a[0], 'pbft.type', 255);
  switch (tag) {
    case T_REQUEST: {
      const t = tuple(v, 'request', 2);
      const requests = readBatch(t[1], 'request.requests', lim);
      if (requests.length === 0) throw new DecodeError('request.requests: empty');
      return { type: 'request', requests };
    }
    case T_PRE_PREPARE:
      return readPrePrepare(v, 'prePrepare', lim);
    case T_PREPARE:
    case T_COMMIT: {
      const name = tag === T_PREPARE ? 'prepare' : 'commit';
      const t = tuple(v, name, 6);
      return {
        type: name,
        voter: readString(t[1], `${name}.voter`, MAX_ID),
        view: readU64(t[2], `${name}.view`),
        seq: readU64(t[3], `${name}.seq`),
        digest: digest(t[4], `${name}.digest`),
        signature: sig(t[5], `${name}.signature`),
      };
    }
    case T_CHECKPOINT: {
      const t = tuple(v, 'checkpoint', 5);
      return {
        type: 'checkpoint',
        voter: readString(t[1], 'checkpoint.voter', MAX_ID),
        seq: readU64(t[2], 'checkpoint.seq'),
        digest: digest(t[3], 'checkpoint.digest'),
        signature: sig(t[4], 'checkpoint.signature'),
      };
    }
    case T_VIEW_CHANGE:
      return readViewChange(v, 'viewChange', lim);
    case T_NEW_VIEW: {
      const t = tuple(v, 'newView', 5);
      return {
        type: 'new-view',
        view: readU64(t[1], 'newView.view'),
        viewChanges: readArray(t[2], 'newView.viewChanges', lim.maxSignatures).map((x, i) =>
          readViewChange(x, `newView.viewChanges[${i}]`, lim),
        ),
        prePrepares: readArray(t[3], 'newView.prePrepares', lim.maxEntries).map((x, i) => readRef(x, `newView.prePrepares[${i}]`)),
        signature: sig(t[4], 'newView.signature'),
      };
    }
    case T_FETCH: {
      const t = tuple(v, 'fetch', 4);
      const out: FetchMsg = { type: 'fetch', have: readU64(t[1], 'fetch.have'), signature: sig(t[3], 'fetch.signature') };
      if (t[2] === null) return out;
      const p = tuple(t[2], 'fetch.part', 2);
      return { ...out, part: { seq: readU64(p[0], 'fetch.part.seq'), offset: readUint(p[1], 'fetch.part.offset') } };
    }
    case T_STATE: {
      const t = tuple(v, 'state', 4);
      let checkpoint: CheckpointPart | undefined;
      if (t[1] !== null) {
        const c = tuple(t[1], 'state.checkpoint', 9);
        checkpoint = {
          seq: readU64(c[0], 'state.checkpoint.seq'),
          stateDigest: digest(c[1], 'state.checkpoint.stateDigest'),
          snapshotHash: digest(c[2], 'state.checkpoint.snapshotHash'),
          snapshotBytes: readUint(c[3], 'state.checkpoint.snapshotBytes'),
          clientsHash: digest(c[4], 'state.checkpoint.clientsHash'),
          clientsBytes: readUint(c[5], 'state.checkpoint.clientsBytes'),
          proof: readSigs(c[6], 'state.checkpoint.proof', lim),
          offset: readUint(c[7], 'state.checkpoint.offset'),
          data: readBytes(c[8], 'state.checkpoint.data', { max: lim.maxSnapshotBytes }),
        };
      }
      const entries = readArray(t[2], 'state.entries', lim.maxEntries).map((x, i) => {
        const e = tuple(x, `state.entries[${i}]`, 4);
        return {
          view: readU64(e[0], `state.entries[${i}].view`),
          seq: readU64(e[1], `state.entries[${i}].seq`),
          batch: readBatch(e[2], `state.entries[${i}].batch`, lim),
          commits: readSigs(e[3], `state.entries[${i}].commits`, lim),
        };
      });
      const out: StateMsg = { type: 'state', entries, signature: sig(t[3], 'state.signature') };
      return checkpoint ? { ...out, checkpoint } : out;
    }
    case T_FETCH_BATCH: {
      const t = tuple(v, 'fetchBatch', 3);
      return { type: 'fetch-batch', seq: readU64(t[1], 'fetchBatch.seq'), digest: digest(t[2], 'fetchBatch.digest') };
    }
    case T_BATCH: {
      const t = tuple(v, 'batch', 3);
      return { type: 'batch', seq: readU64(t[1], 'batch.seq'), batch: readBatch(t[2], 'batch.batch', lim) };
    }
    default:
      throw new DecodeError(`pbft.type: unknown message type ${tag}`);
  }
}

/** A codec with explicit bounds; `pbftCodec` uses `DEFAULT_CODEC_LIMITS`. */
export function createCodec(limits: Partial<CodecLimits> = {}): MessageCodec<PbftMessage> {
  const lim: CodecLimits = { ...DEFAULT_CODEC_LIMITS, ...limits };
  return {
    encode: (m) => encode(toValue(m)),
    decode: (bytes) => {
      if (bytes.length > lim.maxFrameBytes) {
        throw new DecodeError(`frame of ${bytes.length} bytes exceeds the limit of ${lim.maxFrameBytes}`);
      }
      return fromValue(decode(bytes, { maxBytes: lim.maxFrameBytes, maxDepth: 16 }), lim);
    },
  };
}

export const pbftCodec: MessageCodec<PbftMessage> = createCodec();
