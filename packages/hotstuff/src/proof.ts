/**
 * Commit proofs: the certified chain that made a block final, checkable offline by a third party
 * holding only the validator set and a `Verifier`.
 *
 * Three-chain rule (HotStuff §4.3 / Alg.4 `update`): block G is final when G ← P ← B are direct
 * descendants in consecutive views and B is certified. The proof is G (or an ancestor X of G that
 * became final with it) with its commands, the headers from X's child up to B, and the QC on B.
 * The verifier re-hashes every link and checks the three QCs P.justify (on G), B.justify (on P)
 * and qc (on B). Two-chain rule (Jolteon §4): P ← B consecutive and B certified finalises P.
 */
import { CertificateError, DecodeError } from '@phalanx/interface';
import type { ClientRequest, Hasher, ValidatorSet, Verifier } from '@phalanx/interface';
import { bytesEqual, decode, encode, readArray, readBytes, readMap, readString, readU64, readUint, toHex } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { blockHeaderFields, LIMITS, qcFromValue, qcToValue } from './codec.js';
import { frameCommands, parseCommandFrame, sha256Hasher } from './block.js';
import { qcBody, signatureListScheme } from './certificates.js';
import type { CertificateSchemeFactory } from './certificates.js';
import type { Block, CommitRule, QuorumCert } from './types.js';

/** Longest chain of headers a proof may carry (blocks finalised together after view changes). */
export const MAX_PROOF_HEADERS = 4096;

interface Header {
  readonly parent: Uint8Array;
  readonly height: bigint;
  readonly view: bigint;
  readonly justify: QuorumCert;
  readonly hash: Uint8Array;
}

/** Builds the proof bytes for `target`, given the blocks from target's child up to B and the QC on B. */
export function encodeCommitProof(
  chainId: string,
  rule: CommitRule,
  target: Block,
  aboveHeaders: readonly Value[],
  qc: QuorumCert,
): Uint8Array {
  return encode({
    v: 1,
    chainId,
    rule: rule === 'three-chain' ? 3 : 2,
    block: framedBlockValue(target),
    headers: aboveHeaders,
    qc: qcToValue(qc),
  });
}

/**
 * A block as its header fields with the commands as one framed byte string (`frameCommands`: client,
 * seq and payload, no client signatures). The form of the block in a commit proof, hence in every
 * log record, and of the uncommitted blocks the core keeps in its hard state; `proofTarget` reads it.
 */
export function framedBlockValue(b: Block): Value {
  return [b.parent, b.height, b.view, b.proposer, qcToValue(b.justify), b.election, frameCommands(b.commands)];
}

export interface CommitProofInfo {
  readonly chainId: string;
  readonly height: bigint;
  readonly view: bigint;
  readonly hash: Uint8Array;
  readonly block: Block;
  readonly requests: readonly ClientRequest[];
}

export interface VerifyCommitProofOptions {
  /** Refuse a proof for another chain. */
  readonly chainId?: string;
  /** Commit rule the deployment uses (default three-chain): a two-chain proof proves nothing under three-chain. */
  readonly commitRule?: CommitRule;
  readonly certificates?: CertificateSchemeFactory;
  readonly hasher?: Hasher;
}

function headerFromValue(v: Value | undefined, path: string, hasher: Hasher): Header {
  const a = readArray(v, path);
  if (a.length !== 7) throw new DecodeError(`${path}: expected a header of 7 fields`);
  readString(a[3], `${path}.proposer`, LIMITS.maxIdLength);
  readBytes(a[5], `${path}.election`, { max: LIMITS.maxElectionProofBytes });
  readBytes(a[6], `${path}.commands`, { exact: LIMITS.hashBytes });
  return {
    parent: readBytes(a[0], `${path}.parent`, { exact: LIMITS.hashBytes }),
    height: readU64(a[1], `${path}.height`),
    view: readU64(a[2], `${path}.view`),
    justify: qcFromValue(a[4], `${path}.justify`),
    hash: hasher.digest(encode(v as Value)),
  };
}

/**
 * A `framedBlockValue` (the committed block of a proof, or a block of the hard state) with its
 * commands parsed from their frame, its hash and its commands' digest. Does not verify. `path` names it in errors.
 */
export function proofTarget(v: Value | undefined, hasher: Hasher, path = 'proof.block'): { block: Block; hash: Uint8Array; cmdDigest: Uint8Array } {
  const a = readArray(v, path);
  if (a.length !== 7) throw new DecodeError(`${path}: expected 7 fields`);
  const frame = readBytes(a[6], `${path}.commands`, { max: LIMITS.maxFrameBytes });
  const block: Block = { ...blockHeaderFields(a, path), commands: parseCommandFrame(frame, `${path}.commands`) };
  const cmdDigest = hasher.digest(frame);
  const hash = hasher.digest(encode([block.parent, block.height, block.view, block.proposer, a[4]!, block.election, cmdDigest]));
  return { block, hash, cmdDigest };
}

/** A commit proof whose structure checked out, with the certificates still to verify. */
export interface ParsedCommitProof {
  readonly info: CommitProofInfo;
  /** The QCs `verifyCommitProof` verifies, in its order, each with what it certifies (for errors). */
  readonly certificates: readonly { readonly qc: QuorumCert; readonly what: string }[];
}

/**
 * Everything `verifyCommitProof` checks but the certificates' signatures: decoding, the chain id and
 * rule, every hash link and the consecutive views of the commit chain. Returns the QCs left to
 * verify, which the preverifier (`preverifier.ts`) lists and `verifyCommitProof` checks, so both
 * read the same ones. Throws `CertificateError` / `DecodeError` as `verifyCommitProof` does.
 */
export function parseCommitProof(proof: Uint8Array, options: VerifyCommitProofOptions = {}): ParsedCommitProof {
  const hasher = options.hasher ?? sha256Hasher;
  const m = readMap(decode(proof, { maxBytes: LIMITS.maxFrameBytes, maxDepth: 8 }), 'proof', ['v', 'chainId', 'rule', 'block', 'headers', 'qc']);
  if (m.v !== 1) throw new DecodeError(`proof: unsupported version ${String(m.v)}`);
  const chainId = readString(m.chainId, 'proof.chainId', 256);
  if (options.chainId !== undefined && chainId !== options.chainId) {
    throw new CertificateError(`proof is for chain "${chainId}", expected "${options.chainId}"`);
  }
  const ruleNum = readUint(m.rule, 'proof.rule', 3);
  const expected = (options.commitRule ?? 'three-chain') === 'three-chain' ? 3 : 2;
  if (ruleNum !== expected) throw new CertificateError(`proof uses the ${ruleNum}-chain rule, the deployment uses ${expected}-chain`);
  const { block, hash } = proofTarget(m.block, hasher);
  const headers: Header[] = [
    { parent: block.parent, height: block.height, view: block.view, justify: block.justify, hash },
    ...readArray(m.headers, 'proof.headers', MAX_PROOF_HEADERS).map((h, i) => headerFromValue(h, `proof.headers[${i}]`, hasher)),
  ];
  const qc = qcFromValue(m.qc, 'proof.qc');
  // Every link: parent hash, height + 1, and justify = QC on the parent (our chained structure).
  for (let i = 1; i < headers.length; i++) {
    const prev = headers[i - 1]!;
    const h = headers[i]!;
    if (!bytesEqual(h.parent, prev.hash) || h.height !== prev.height + 1n) {
      throw new CertificateError(`proof: header ${i} does not extend header ${i - 1}`);
    }
    if (!bytesEqual(h.justify.block, prev.hash) || h.justify.view !== prev.view || h.justify.height !== prev.height) {
      throw new CertificateError(`proof: header ${i} does not justify its parent`);
    }
  }
  const top = headers[headers.length - 1]!;
  if (!bytesEqual(qc.block, top.hash) || qc.view !== top.view || qc.height !== top.height) {
    throw new CertificateError('proof: the final QC does not certify the last header');
  }
  if (headers.length < ruleNum) throw new CertificateError(`proof: a ${ruleNum}-chain needs ${ruleNum} blocks`);
  // The final blocks must be direct descendants in consecutive views (HotStuff §4.3 / Jolteon §4).
  const tail = headers.slice(headers.length - ruleNum);
  for (let i = 1; i < tail.length; i++) {
    if (tail[i]!.view !== tail[i - 1]!.view + 1n) throw new CertificateError('proof: the commit chain is not in consecutive views');
  }
  const certificates: { qc: QuorumCert; what: string }[] = [];
  for (let i = 1; i < tail.length; i++) certificates.push({ qc: tail[i]!.justify, what: `QC on chain block ${i - 1}` });
  certificates.push({ qc, what: 'final QC' });
  return { info: { chainId, height: block.height, view: block.view, hash: headers[0]!.hash, block, requests: block.commands }, certificates };
}

/**
 * Checks a commit proof and returns what it proves. Throws `CertificateError` when the chain or a
 * certificate is wrong and `DecodeError` when the bytes are malformed.
 */
export function verifyCommitProof(
  proof: Uint8Array,
  validators: ValidatorSet,
  verifier: Verifier,
  options: VerifyCommitProofOptions = {},
): CommitProofInfo {
  const { info, certificates } = parseCommitProof(proof, options);
  const scheme = (options.certificates ?? signatureListScheme)({ validators, verifier, chainId: info.chainId });
  for (const { qc: q, what } of certificates) {
    try {
      scheme.verify(qcBody(q), q.sig);
    } catch (err) {
      if (err instanceof CertificateError || err instanceof DecodeError) {
        throw new CertificateError(`proof: ${what} (block ${toHex(q.block).slice(0, 16)}): ${err.message}`);
      }
      throw err;
    }
  }
  return info;
}
