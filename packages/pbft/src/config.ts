import { ConfigError } from '@phalanx/interface';
import type { Hasher, RequestAuthenticator } from '@phalanx/interface';
import { MAX_GROUP_SIZE } from '@phalanx/client-auth';
import { DEFAULT_CODEC_LIMITS, MAX_ID, MAX_SIG } from './messages.js';

/**
 * Most bytes a command's signed group adds to a batch, as `groupWireBytes` and `requestWireBytes`
 * count them at the codec's bounds: a full group's digests (128 × 32 bytes), the largest signature
 * the codec takes (8 KiB), the longest client id (256 characters at 3 bytes each), headers, and
 * the command's reference to its group — 13,088 bytes. With `clientAuth` a batch must leave this
 * room beside one largest command, so that any command that passes the check fits a batch on its own.
 */
export const MAX_GROUP_WIRE_BYTES = 32 * MAX_GROUP_SIZE + MAX_SIG + 3 * MAX_ID + 24 + 8;

/** PBFT configuration. Every field is optional; unknown fields are refused (a typo is a ConfigError). */
export interface PbftConfig {
  /** Network name inside every signature, so votes cannot be replayed on another network. Default "phalanx". */
  readonly chainId?: string;
  /** Faults to tolerate; n must be >= 3f+1. Default: the largest f the validator set allows. */
  readonly faults?: number;
  /** K: a checkpoint every K sequence numbers (§4.3). Default 100. */
  readonly checkpointInterval?: number;
  /** L: the high watermark is h + L (§4.2). Must be a multiple of K >= 2K. Default 2K. */
  readonly watermarkWindow?: number;
  /** Most requests per pre-prepare. Default 512. */
  readonly maxBatchSize?: number;
  /**
   * Most bytes of requests per pre-prepare (and per relay of requests), counted with
   * `batchWireBytes` (each signed group once per batch). Keeps every batch-carrying message under
   * the transport's frame limit whatever the payloads weigh. Default 1 MiB; at least
   * maxPayloadBytes + 1 KiB, and with `clientAuth` also room for a largest signed group
   * (`MAX_GROUP_WIRE_BYTES`, 13,088 bytes).
   */
  readonly maxBatchBytes?: number;
  /**
   * How long the primary waits to fill a batch while batches are in flight (ms). 0 (default): no
   * timer — a partial batch is proposed as soon as no batch is in flight, so batches grow with
   * the load (light load: proposed at once). At most half of `viewChangeTimeoutMs`.
   */
  readonly batchTimeoutMs?: number;
  /** Partial batches (after the batch timer) the primary keeps in flight. Full batches are always pipelined. Default 4. */
  readonly pipelineDepth?: number;
  /** Base view-change timeout T (§4.5.2); doubles with each consecutive view change. Default 1000. */
  readonly viewChangeTimeoutMs?: number;
  /** Ceiling for the doubled view-change timeout. Default 60000. */
  readonly maxViewChangeTimeoutMs?: number;
  /** Period of retransmission and catch-up while work is outstanding (ms). Default 200. */
  readonly retransmitMs?: number;
  /** Period of the status broadcast that lets replicas notice they fell behind (ms); 0 = off. Default 1000. */
  readonly statusIntervalMs?: number;
  /** Largest client payload accepted. Default 65536. */
  readonly maxPayloadBytes?: number;
  /** Most client requests queued awaiting ordering. Default 100000. */
  readonly maxPendingRequests?: number;
  /**
   * Bytes of checkpoint state per STATE message in a state transfer (the state travels in pieces,
   * each well under the transport's frame limit). Default 1 MiB. Use the same value on every
   * replica: a receiver counts a tick with less than one piece of its own size as a stalled
   * source, and moves on to another.
   */
  readonly stateChunkBytes?: number;
  /** Largest checkpoint state (snapshot and execution table) a state transfer accepts. Default 1 GiB. */
  readonly maxStateBytes?: number;
  /** Misbehaviour score at which a peer is reported suspected. Default 3. */
  readonly suspectAfter?: number;
  /** Misbehaviour score at which a peer's messages are dropped (at most f peers). Default 10. */
  readonly isolateAfter?: number;
  /** Batch/state hash; defaults to the built-in SHA-256. Pass a native one for speed (same digests). */
  readonly hasher?: Hasher;
  /**
   * Client authentication (`createRequestAuthenticator` from @phalanx/client-auth). When set, a
   * command enters the request pool only if `check` passes (a relay of one that fails blames the
   * relaying replica), and a backup prepares a normal-case PRE-PREPARE only if every command of
   * its batch passes: a Byzantine primary can no longer order commands no client sent. Batches a
   * NEW-VIEW or a commit certificate vouches for are not checked again (see README). Unset:
   * commands are not authenticated (the channel only tells who relayed them). Use the same
   * client directory on every replica: a backup that lacks a key refuses the pre-prepare.
   */
  readonly clientAuth?: RequestAuthenticator;
  /**
   * TEST ONLY — overrides the quorum power (normally more than 2/3 of the total). Exists so the
   * simulator's checkers can be shown to catch an unsafe protocol (a 2f quorum). Never set it.
   */
  readonly unsafeQuorumOverride?: number;
  /**
   * TEST ONLY — drops the recovery fence: a restarted replica sends new PRE-PREPAREs and PREPAREs
   * in the view it recovered in, though it may have sent others it lost in the crash. Exists so
   * the simulator's crash runs can be shown to catch it. Never set it.
   */
  readonly unsafeNoRecoveryFence?: boolean;
}

export interface ResolvedConfig {
  readonly chainId: string;
  readonly faults: number | undefined;
  readonly checkpointInterval: bigint;
  readonly watermarkWindow: bigint;
  readonly maxBatchSize: number;
  readonly batchTimeoutMs: number;
  readonly pipelineDepth: number;
  readonly viewChangeTimeoutMs: number;
  readonly maxViewChangeTimeoutMs: number;
  readonly retransmitMs: number;
  readonly statusIntervalMs: number;
  readonly maxPayloadBytes: number;
  readonly maxBatchBytes: number;
  readonly maxPendingRequests: number;
  readonly stateChunkBytes: number;
  readonly maxStateBytes: number;
  readonly suspectAfter: number;
  readonly isolateAfter: number;
  readonly hasher: Hasher | undefined;
  readonly clientAuth: RequestAuthenticator | undefined;
  readonly unsafeQuorumOverride: number | undefined;
  readonly unsafeNoRecoveryFence: boolean;
}

const KEYS = [
  'chainId', 'faults', 'checkpointInterval', 'watermarkWindow', 'maxBatchSize', 'batchTimeoutMs', 'pipelineDepth',
  'viewChangeTimeoutMs', 'maxViewChangeTimeoutMs', 'retransmitMs', 'statusIntervalMs', 'maxPayloadBytes', 'maxBatchBytes', 'maxPendingRequests',
  'stateChunkBytes', 'maxStateBytes', 'suspectAfter', 'isolateAfter', 'hasher', 'clientAuth', 'unsafeQuorumOverride', 'unsafeNoRecoveryFence',
];

function int(cfg: Record<string, unknown>, key: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = cfg[key];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(`config.${key}`, `must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

export function resolveConfig(config: PbftConfig | undefined): ResolvedConfig {
  const cfg = (config ?? {}) as Record<string, unknown>;
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new ConfigError('config', 'must be an object');
  for (const k of Object.keys(cfg)) {
    if (!KEYS.includes(k)) throw new ConfigError(`config.${k}`, 'unknown option');
  }
  const chainId = cfg.chainId ?? 'phalanx';
  if (typeof chainId !== 'string' || chainId.length === 0 || chainId.length > 256) {
    throw new ConfigError('config.chainId', 'must be a non-empty string of at most 256 characters');
  }
  const K = int(cfg, 'checkpointInterval', 100, 1, 1_000_000);
  const L = int(cfg, 'watermarkWindow', 2 * K, 1, 100_000_000);
  if (L < 2 * K || L % K !== 0) {
    throw new ConfigError('config.watermarkWindow', `must be a multiple of checkpointInterval (${K}) and at least twice it, got ${L}`);
  }
  const hasher = cfg.hasher as Hasher | undefined;
  if (hasher !== undefined && (typeof hasher !== 'object' || typeof hasher.digest !== 'function')) {
    throw new ConfigError('config.hasher', 'must be a Hasher with a digest() method');
  }
  const clientAuth = cfg.clientAuth as RequestAuthenticator | undefined;
  if (clientAuth !== undefined && (typeof clientAuth !== 'object' || clientAuth === null || typeof clientAuth.check !== 'function')) {
    throw new ConfigError('config.clientAuth', 'must be a RequestAuthenticator with a check() method');
  }
  const vc = int(cfg, 'viewChangeTimeoutMs', 1000, 1);
  const resolved: ResolvedConfig = {
    chainId,
    faults: cfg.faults === undefined ? undefined : int(cfg, 'faults', 0, 0),
    checkpointInterval: BigInt(K),
    watermarkWindow: BigInt(L),
    // No larger than the codec decodes: a batch of more would be refused by every backup, forever.
    maxBatchSize: int(cfg, 'maxBatchSize', 512, 1, DEFAULT_CODEC_LIMITS.maxBatchSize),
    batchTimeoutMs: int(cfg, 'batchTimeoutMs', 0, 0),
    pipelineDepth: int(cfg, 'pipelineDepth', 4, 1, 1 << 20),
    viewChangeTimeoutMs: vc,
    maxViewChangeTimeoutMs: int(cfg, 'maxViewChangeTimeoutMs', Math.max(60_000, vc), vc),
    retransmitMs: int(cfg, 'retransmitMs', 200, 1),
    statusIntervalMs: int(cfg, 'statusIntervalMs', 1000, 0),
    maxPayloadBytes: int(cfg, 'maxPayloadBytes', 65536, 0, 64 * 1024 * 1024),
    maxBatchBytes: int(cfg, 'maxBatchBytes', 1 << 20, 1024, 64 * 1024 * 1024),
    maxPendingRequests: int(cfg, 'maxPendingRequests', 100_000, 1),
    // Under the codec's per-message bound (DEFAULT_CODEC_LIMITS.maxSnapshotBytes, 64 MiB).
    stateChunkBytes: int(cfg, 'stateChunkBytes', 1 << 20, 1, 16 << 20),
    // A Uint8Array in Node 20 holds at most 4 GiB; the state is assembled in one before restore.
    maxStateBytes: int(cfg, 'maxStateBytes', 1 << 30, 1, 2 ** 32 - 1),
    suspectAfter: int(cfg, 'suspectAfter', 3, 1),
    isolateAfter: int(cfg, 'isolateAfter', 10, 1),
    hasher,
    clientAuth,
    unsafeQuorumOverride: cfg.unsafeQuorumOverride === undefined ? undefined : int(cfg, 'unsafeQuorumOverride', 0, 1),
    unsafeNoRecoveryFence: cfg.unsafeNoRecoveryFence === true,
  };
  if (resolved.maxBatchBytes < resolved.maxPayloadBytes + 1024) {
    throw new ConfigError('config.maxBatchBytes', `must leave room for one request of maxPayloadBytes (${resolved.maxPayloadBytes}) + 1 KiB, got ${resolved.maxBatchBytes}`);
  }
  if (clientAuth && resolved.maxBatchBytes < resolved.maxPayloadBytes + 1024 + MAX_GROUP_WIRE_BYTES) {
    // A signed command counts its group in its batch: without the room, a command of the largest
    // payload would make a batch the backups refuse as oversized, at every view.
    throw new ConfigError(
      'config.maxBatchBytes',
      `with clientAuth must leave room for one request of maxPayloadBytes (${resolved.maxPayloadBytes}) + 1 KiB and its signed group (${MAX_GROUP_WIRE_BYTES}), got ${resolved.maxBatchBytes}`,
    );
  }
  if (resolved.isolateAfter < resolved.suspectAfter) {
    throw new ConfigError('config.isolateAfter', 'must be at least suspectAfter');
  }
  if (resolved.batchTimeoutMs * 2 > resolved.viewChangeTimeoutMs) {
    // Backups start their view-change timers when a request reaches them: with a batch timer near
    // the view-change timer, every request at light load would reach their first expiry (each
    // backup relaying its requests to every replica) and a slower primary its second (a view change).
    throw new ConfigError('config.batchTimeoutMs', `must be at most half of viewChangeTimeoutMs (${resolved.viewChangeTimeoutMs}), got ${resolved.batchTimeoutMs}`);
  }
  return resolved;
}
