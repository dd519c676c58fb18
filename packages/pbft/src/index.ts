/**
 * @phalanx/pbft — Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI '99 / TOCS 2002) as a
 * sans-I/O `ProtocolCore`: normal case with batching, checkpoints and watermarks, view change with
 * NEW-VIEW verification, state transfer, misbehaviour accounting, crash-recovery from a persisted log.
 */
import type { CoreContext, Preverifier, ProtocolCore, ProtocolDefinition, RecoveredState } from '@phalanx/interface';
import { PbftCore } from './core.js';
import { pbftPreverifier } from './preverifier.js';
import type { PbftConfig } from './config.js';
import { pbftCodec } from './messages.js';
import { pbftSimulation } from './simulation.js';
import type { PbftMessage } from './messages.js';

export { PbftCore, computeNewView, TIMER_BATCH, TIMER_RETRANSMIT, TIMER_STATUS, TIMER_VIEW_CHANGE } from './core.js';
export type { NewViewPlan } from './core.js';
export { MAX_GROUP_WIRE_BYTES, resolveConfig } from './config.js';
export type { PbftConfig, ResolvedConfig } from './config.js';
export { ExecTable } from './exec-table.js';
export { pbftPreverifier } from './preverifier.js';
export { newViewSizeBound } from './size-bound.js';
export type { NewViewBoundOptions } from './size-bound.js';
export { sha256, sha256Hasher } from './sha256.js';
export {
  pbftCodec,
  createCodec,
  DEFAULT_CODEC_LIMITS,
  KIND_PRE_PREPARE,
  KIND_PREPARE,
  KIND_COMMIT,
  KIND_CHECKPOINT,
  SIGN_DOMAIN,
  batchValue,
  toValue,
  fromValue,
  signedBody,
  refOf,
} from './messages.js';
export type {
  PbftMessage,
  PrePrepareMsg,
  PrePrepareRef,
  VoteMsg,
  CheckpointMsg,
  CheckpointProof,
  PreparedCert,
  ViewChangeMsg,
  NewViewMsg,
  RequestMsg,
  FetchMsg,
  StateMsg,
  FetchBatchMsg,
  BatchMsg,
  CheckpointPart,
  CommittedEntry,
  VoterSig,
  CodecLimits,
} from './messages.js';

export { pbftSimulation, SIM_CONFIG } from './simulation.js';
export type { PbftSimulation, SimCluster, SimHookContext } from './simulation.js';

/** The PBFT protocol as the runtime, the simulator and the apps see it. */
export const pbft: ProtocolDefinition<PbftMessage, PbftConfig> = {
  name: 'pbft',
  codec: pbftCodec,
  create(ctx: CoreContext, config: PbftConfig, recovered?: RecoveredState): ProtocolCore<PbftMessage> {
    return new PbftCore(ctx, config, recovered);
  },
  /** The signature checks stepping a message will make, for the runtime's worker pool (see preverifier.ts). */
  preverifier(ctx: CoreContext, config: PbftConfig): Preverifier<PbftMessage> {
    return pbftPreverifier(ctx, config);
  },
};

/** The adapter `@phalanx/sim` looks for (`pnpm sim --protocol pbft`). */
export const simulation = pbftSimulation(pbft);

export default pbft;
