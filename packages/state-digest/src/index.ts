export { EMPTY_ROOT, leafHash, nodeHash, rootOf } from './merkle.js';
export type { Hash, InclusionProof } from './merkle.js';
export { MerkleMap, compareKeys, stateDigest, stateDigestAsync, verifyAbsence, verifyInclusion } from './state-digest.js';
export type { AbsenceProof, Entry } from './state-digest.js';
