/**
 * The ciphersuite: BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (draft-irtf-cfrg-bls-signature-05
 * §4.2.3), "minimal-pubkey-size": public keys in G1 (48 bytes), signatures in G2 (96 bytes),
 * proof-of-possession scheme for same-message aggregation.
 *
 * Why min-pk: keys are stored and aggregated far more often than signatures are sent in our
 * protocols (validator sets, Feldman commitments, public key shares all live in G1, where
 * arithmetic is ~6× cheaper in noble); it is the Ethereum consensus suite, so @chainsafe/blst
 * verifies it natively. Why POP: fast aggregate verification of one message (a vote) by many
 * keys is our main use, and it is only safe against rogue keys with proofs of possession.
 */
export const DST_SIG_POP = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
/** DST of the proof of possession (draft §4.2.3 PopProve/PopVerify): a signature on the key bytes. */
export const DST_POP_PROOF = 'BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
/** Basic scheme DST (§4.2.1). Only used to check the Basic-scheme vectors; not used for signing. */
export const DST_SIG_BASIC = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_';
