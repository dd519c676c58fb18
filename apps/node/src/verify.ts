/**
 * Offline verification of commit certificates exported by a replica (`GET /certificates/<height>`,
 * saved to a file): needs only the network configuration's validator set, no running node.
 */
import { readFileSync } from 'node:fs';
import { fromHex, toHex } from '@phalanx/codec';
import { verifier, validatePublicKey } from '@phalanx/crypto';
import { CertificateError, ConfigError } from '@phalanx/interface';
import type { ValidatorSet } from '@phalanx/interface';
import { createValidatorSet, decodeCertificate, verifyCertificate } from '@phalanx/quorum';
import { verifyCommitProof } from '@phalanx/hotstuff';
import { KIND_COMMIT } from '@phalanx/pbft';
import type { NetworkConfig } from './config.js';

export const CERTIFICATE_FORMAT = 'phalanx-commit-certificate';

export interface CertificateFile {
  readonly format: typeof CERTIFICATE_FORMAT;
  readonly version: 1;
  readonly protocol: string;
  readonly chainId: string;
  readonly height: string;
  /** Hex of the protocol's encoded proof (`CommittedBatch.proof`). */
  readonly proof: string;
}

export function certificateFile(protocol: string, chainId: string, height: bigint, proof: Uint8Array): CertificateFile {
  return { format: CERTIFICATE_FORMAT, version: 1, protocol, chainId, height: height.toString(), proof: toHex(proof) };
}

export function validatorSetOf(config: NetworkConfig): ValidatorSet {
  return createValidatorSet(
    config.nodes.map((n, i) => {
      try {
        return { id: n.id, publicKey: fromHex(n.publicKey), power: n.power };
      } catch {
        throw new ConfigError(`nodes[${i}].publicKey`, 'not a hex key');
      }
    }),
    { validateKey: (pk) => validatePublicKey(pk) },
  );
}

/** Verifies the certificate in `file`; returns a one-line description or throws why not. */
export function verifyCertificateFile(file: string, config: NetworkConfig): string {
  let parsed: CertificateFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as CertificateFile;
  } catch (err) {
    throw new CertificateError(`${file}: not a certificate file (${(err as Error).message})`);
  }
  if (parsed.format !== CERTIFICATE_FORMAT || parsed.version !== 1) throw new CertificateError(`${file}: unknown format or version`);
  if (parsed.chainId !== config.chainId) throw new CertificateError(`${file}: certificate is for chain "${parsed.chainId}", configuration is "${config.chainId}"`);
  const validators = validatorSetOf(config);
  const proof = fromHex(parsed.proof);
  if (parsed.protocol === 'pbft') {
    const cert = decodeCertificate(proof);
    verifyCertificate(cert, validators, verifier, { chainId: config.chainId, kind: KIND_COMMIT, height: BigInt(parsed.height) });
    return `pbft batch ${cert.height} (view ${cert.round}, digest ${toHex(cert.digest).slice(0, 16)}…) committed by ${cert.votes.map((v) => v.voter).join(', ')}`;
  }
  if (parsed.protocol === 'hotstuff') {
    // The deployment's rule, not the proof's own claim: a two-chain proof for a three-chain network is refused.
    const info = verifyCommitProof(proof, validators, verifier, { chainId: config.chainId, commitRule: config.consensus.commitRule ?? 'three-chain' });
    if (info.height !== BigInt(parsed.height)) throw new CertificateError(`proof is for height ${info.height}, file says ${parsed.height}`);
    return `hotstuff block ${info.height} (view ${info.view}, hash ${toHex(info.hash).slice(0, 16)}…) with ${info.requests.length} commands is final`;
  }
  throw new CertificateError(`${file}: unknown protocol "${parsed.protocol}"`);
}
