export { DST_SIG_POP, DST_POP_PROOF, DST_SIG_BASIC } from './suite.js';
export {
  keygen,
  publicKeyOf,
  sign,
  verify,
  popProve,
  popVerify,
  registerPublicKey,
  PopVerifiedKey,
  aggregateSignatures,
  fastAggregateVerify,
} from './bls.js';
export type { BlsKeyPair } from './bls.js';
export { nobleBackend, loadBlstBackend, activeBackend, setBackend, selectBackend } from './backend.js';
export type { BlsBackend, ModuleImporter } from './backend.js';
export { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './points.js';
export { ORDER, SCALAR_BYTES, MAX_INDEX, randomScalar, scalarToBytes, scalarFromBytes, lagrangeAtZero } from './field.js';
export { split, reconstruct, randomPolynomial, checkThreshold } from './shamir.js';
export type { Share, ReconstructOptions } from './shamir.js';
export { deal, commitPolynomial, verifyShare as verifyFeldmanShare, publicKeyShare } from './feldman.js';
export type { FeldmanDealing } from './feldman.js';
export {
  signShare,
  verifyShare,
  combineSignatures,
  verifyThresholdSignature,
  checkThresholdPublicKey,
  trustedDealerKeys,
} from './threshold.js';
export type { SignatureShare, ThresholdPublicKey, CombineResult, CombineOptions, InvalidShare } from './threshold.js';
export { coinMessage, coinShare, combineCoin, coinFromSignature, COIN_DOMAIN } from './coin.js';
export type { Coin } from './coin.js';
export { secureRng, seededRng } from './rng.js';
export {
  InsufficientSharesError,
  DuplicateShareIndexError,
  InvalidShareIndexError,
  InconsistentSharesError,
} from './errors.js';
export { DkgParty, dkgCodec } from './dkg.js';
export type { DkgConfig, DkgMessage, DkgPhase, DkgResult, DisqualifyReason } from './dkg.js';
export { blsSigner, blsVerifier, tagBlsPublicKey, untagBls, BLS_SCHEME_TAG } from './signer.js';
