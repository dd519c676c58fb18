export {
  faultTolerance,
  quorumSize,
  weakQuorumSize,
  assertBftSize,
  quorumPower,
  faultPower,
  weakQuorumPower,
} from './thresholds.js';
export { createValidatorSet, powerOf } from './validator-set.js';
export type { ValidatorSetOptions } from './validator-set.js';
export {
  voteSigningBytes,
  signVote,
  verifyVote,
  VoteSet,
  verifyCertificate,
  isValidCertificate,
  verifyEvidence,
  encodeCertificate,
  decodeCertificate,
} from './votes.js';
export type { VoteBody, AddVoteResult, VoteSetParams, CommitCertificate, CertificateExpectations } from './votes.js';
