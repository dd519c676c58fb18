export { Replica, PoolTimeoutError, readRecoveredState, cryptoRng } from './replica.js';
export { ReplicaError } from './errors.js';
export type { ReplicaOptions, ReplicaHooks, ReplicaMetrics, ClientPlane, StateDigest } from './replica.js';
export { Client, ClientNotRunningError, ClientRejectedError, ClientResultExpiredError, ClientTimeoutError, MAX_RETRY_MS } from './client.js';
export type { ClientOptions, ClientResult, ClientEndpoint } from './client.js';
export { ReplicatedState } from './replicated-state.js';
export type { AppliedRequest, CachedResult } from './replicated-state.js';
export { encodeClientFrame, decodeClientFrame, rejectedSeqs, CLIENT_WIRE_VERSION, MAX_FRAME_ITEMS } from './wire.js';
export type { ClientFrame, RequestFrame, ReplyFrame, RejectFrame, RejectCode, WireRequest, WireResult } from './wire.js';
