/**
 * @phalanx/hotstuff — chained HotStuff (Yin et al., PODC 2019) as a sans-I/O protocol core.
 */
import type { CoreContext, ProtocolDefinition, RecoveredState } from '@phalanx/interface';
import { hotstuffCodec } from './codec.js';
import type { HotStuffConfig } from './config.js';
import { HotStuffCore } from './core.js';
import { hotstuffPreverifier } from './preverifier.js';
import type { HotStuffMessage } from './types.js';

export type { Block, QuorumCert, TimeoutCert, TimeoutVote, HotStuffMessage, CommitRule, CheckpointVote, StateCert } from './types.js';
export type { HotStuffConfig, ResolvedConfig } from './config.js';
export { resolveConfig, DEFAULT_SYNC_WINDOW, MAX_GROUP_WIRE_BYTES } from './config.js';
export { HotStuffCore, MAX_DURABLE_BLOCKS, STATE_TIMER, STATUS_TIMER, VIEW_TIMER } from './core.js';
export { hotstuffCodec, encodeMessage, decodeMessage, LIMITS } from './codec.js';
export { blockHash, genesisQC, genesisHash, sha256Hasher } from './block.js';
export { signatureListScheme, VOTE_KIND, PROPOSAL_KIND, TIMEOUT_KIND, CHECKPOINT_KIND } from './certificates.js';
export type { CertificateScheme, CertificateSchemeFactory, CertificateSchemeParams } from './certificates.js';
export { roundRobin, activeRoundRobin, proofOfWork, leadingZeroBits } from './leader.js';
export type { LeaderElection, LeaderElectionFactory, LeaderElectionParams, ProofOfWorkOptions, ViewEntry } from './leader.js';
export { verifyCommitProof, parseCommitProof, MAX_PROOF_HEADERS } from './proof.js';
export type { CommitProofInfo, ParsedCommitProof, VerifyCommitProofOptions } from './proof.js';
export { hotstuffPreverifier } from './preverifier.js';

/** The protocol as the runtime, the simulator and the apps see it. */
export const hotstuff: ProtocolDefinition<HotStuffMessage, HotStuffConfig> = {
  name: 'hotstuff',
  codec: hotstuffCodec,
  create(ctx: CoreContext, config: HotStuffConfig, recovered?: RecoveredState) {
    return new HotStuffCore(ctx, config, recovered);
  },
  // The signature checks a message will cost the core, for the runtime's worker pool (see preverifier.ts).
  preverifier: hotstuffPreverifier,
};

import { createSimulation } from './simulation.js';
export { createSimulation, simulationTiming } from './simulation.js';
export type { SimCluster, SimHookContext } from './simulation.js';
/** Simulator adapter (read by `@phalanx/sim` as the `simulation` export). */
export const simulation = createSimulation(hotstuff);
/** The same with the two-chain (Jolteon) commit rule. */
export const simulationTwoChain = createSimulation(hotstuff, { commitRule: 'two-chain' });
export { blsAggregateScheme, thresholdBlsScheme } from './bls-certificates.js';
export type { BlsAggregatePrimitives, BlsAggregateOptions, ThresholdBlsPrimitives } from './bls-certificates.js';
