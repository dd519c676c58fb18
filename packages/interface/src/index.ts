export type { NodeId, Validator, ValidatorSet } from './identity.js';
export type { SignatureScheme, Signer, Verifier, VerifyItem, BatchVerifier, Hasher } from './crypto.js';
export type { Rng } from './rng.js';
export { silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export type { ClientRequest, ApplyContext, SnapshotRoom, StateMachine, CommittedBatch, RequestAuth, RequestAuthenticator, SignedRequestGroup } from './application.js';
export { BatchBytes, batchWireBytes, chunkBySize, groupWireBytes, requestBatches, requestWireBytes, unknownClient } from './application.js';
export type { SignedVote, EquivocationEvidence } from './evidence.js';
export type {
  TimerId,
  Input,
  PersistRequest,
  Outbound,
  TimerOp,
  MisbehaviourKind,
  ProtocolEvent,
  Ready,
  CoreStatus,
  ProtocolCore,
  CoreContext,
  RecoveredState,
  MessageCodec,
  ProtocolDefinition,
  Preverifier,
} from './core.js';
export { MAX_PREVERIFY_ITEMS } from './core.js';
export type {
  DataDirIdentity,
  LogRecord,
  LogBounds,
  SnapshotMeta,
  SnapshotWriter,
  SnapshotStore,
  KeyValueStore,
  Storage,
} from './storage.js';
export type { DropReason, TransportStats, Transport } from './transport.js';
export {
  PhalanxError,
  ConfigError,
  ArgumentError,
  InsufficientReplicasError,
  DecodeError,
  CryptoError,
  KeyFileError,
  CertificateError,
  UnknownPeerError,
  StorageError,
  StorageFullError,
  CorruptionError,
  DataDirMismatchError,
  assertSameDataDir,
} from './errors.js';
export type {
  SimulationCluster,
  SimulationHookContext,
  SimulationHooks,
  SimulationCapabilities,
  ProtocolSimulation,
} from './simulation.js';
