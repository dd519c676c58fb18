/** Configuration of a HotStuff instance, validated by `resolveConfig` (ConfigError names the path). */
import { ConfigError } from '@phalanx/interface';
import type { Hasher, RequestAuthenticator } from '@phalanx/interface';
import { MAX_GROUP_SIZE } from '@phalanx/client-auth';
import type { CertificateSchemeFactory } from './certificates.js';
import { signatureListScheme } from './certificates.js';
import type { LeaderElectionFactory } from './leader.js';
import { activeRoundRobin } from './leader.js';
import { sha256Hasher } from './block.js';
import { LIMITS } from './codec.js';
import type { CommitRule } from './types.js';

/** Committed blocks kept to serve block sync unless `syncWindow` says otherwise. */
export const DEFAULT_SYNC_WINDOW = 1024;

export interface HotStuffConfig {
  /** Network name bound into every signature (no cross-network replay). */
  readonly chainId: string;
  /**
   * 'three-chain' (default): HotStuff §4.3, a block is final when it heads a three-chain of
   * direct descendants in consecutive views. 'two-chain': Jolteon / Fast-HotStuff, one round
   * trip faster, safe because proposals after a timeout must carry a TC and extend its high QC.
   */
  readonly commitRule?: CommitRule;
  /** Most commands per block (batching). Default 1000. */
  readonly maxBlockCommands?: number;
  /** First view timeout. Default 1000 ms. */
  readonly baseTimeoutMs?: number;
  /** Timeouts grow by `backoffFactor` per failed view up to this. Default 60000 ms. */
  readonly maxTimeoutMs?: number;
  /** Default 2. */
  readonly backoffFactor?: number;
  /** Default `activeRoundRobin`: round-robin over the validator set, skipping replicas not seen voting. */
  readonly leaderElection?: LeaderElectionFactory;
  /** Default: list of signatures (works for Ed25519, ML-DSA, hybrid). */
  readonly certificates?: CertificateSchemeFactory;
  /** Default SHA-256. Every replica and verifier must use the same one. */
  readonly hasher?: Hasher;
  /**
   * Most bytes of commands per block, counted with `batchWireBytes` (each signed group once per
   * block); also the budget of one BLOCKS answer and of one gossip of requests. Keeps each under
   * the transport's frame limit whatever the payloads weigh. Default 1 MiB; at least
   * maxPayloadBytes + 1 KiB, and with `clientAuth` also room for a largest signed group
   * (`MAX_GROUP_WIRE_BYTES`, ~13 KiB).
   */
  readonly maxBlockBytes?: number;
  /** Largest command payload accepted. Default 64 KiB (at most 1 MiB, the codec's bound). */
  readonly maxPayloadBytes?: number;
  /** Recently committed blocks kept in memory to serve block sync. Default 1024. */
  readonly syncWindow?: number;
  /**
   * Committed heights between application snapshots: every `snapshotInterval`-th committed block
   * asks the runtime to store the state (`reportState`), and once it is stored the log is
   * compacted to the last `syncWindow` blocks below it. The stored log then stays within
   * `syncWindow + snapshotInterval` blocks, and a restart replays at most that many instead of
   * every block since genesis. 0 turns snapshots off (the log grows forever). Default 1000.
   */
  readonly snapshotInterval?: number;
  /**
   * State transfer (needs `snapshotInterval` > 0): bytes of application state this replica asks for
   * per STATE message (a source sends what is asked). The first message of a transfer also carries
   * a commit proof (up to about `maxBlockBytes`), so the two together must fit the transport's
   * frame limit. Also the unit of the serving budget: 32 of them per peer per state tick.
   * Default 1 MiB (max 16 MiB).
   */
  readonly stateChunkBytes?: number;
  /** Largest application state this replica accepts by state transfer. Default 1 GiB (max 4 GiB - 1). */
  readonly maxStateBytes?: number;
  /**
   * Period of the state-transfer tick: a transfer whose source sent nothing for a tick moves to
   * another source; a replica behind a certified checkpoint that committed nothing for two ticks
   * starts a transfer; each peer is served at most 32 pieces per tick. Default 1000 ms.
   */
  readonly stateTickMs?: number;
  /**
   * Period of the status probe: a STATUS (our high QC) to one random peer, which answers if it
   * knows a higher QC, and with its certified checkpoint (at once to an asker behind what it
   * committed, else on one ask in 16). Runs when idle too:
   * a replica cut off while the others committed, and not restarted, has no timer of its own
   * running and nobody sends it anything once the cluster goes quiet, so without it it would stay
   * behind until the next command (PBFT's `statusIntervalMs` does the same). A STATUS carries a QC:
   * at large n with big signatures, raise the period. Default 1000 ms; 0 turns it off.
   */
  readonly statusIntervalMs?: number;
  /** Blocks asked for per REQUEST-BLOCKS. Default 32 (max 64). */
  readonly syncBatch?: number;
  /** Proposals waiting for a missing parent, in total / per peer. Default 64 / 8. */
  readonly maxPendingProposals?: number;
  readonly maxPendingPerPeer?: number;
  /** Fetched blocks waiting to connect to the tree. Default 2048. */
  readonly maxFetchedBlocks?: number;
  /** Pending client commands kept. Default 100000; beyond it new commands are dropped. */
  readonly maxMempool?: number;
  /** Gossip client commands received by this replica to the others. Default true. */
  readonly forwardRequests?: boolean;
  /**
   * Leaders a vote goes to: the next view's (1, the paper) or the next two (2, default), so one
   * crashed leader does not cost the QC of the view before it. See README "liveness".
   */
  readonly voteTargets?: 1 | 2;
  /** Votes and timeouts for views further ahead than this are ignored (bounds memory). Default 1000. */
  readonly maxFutureViews?: number;
  /**
   * Client signatures (`@phalanx/client-auth`). Set: a command enters the pending pool only if
   * `check` accepts it (a peer relaying one it refuses is reported), and the replica votes for a
   * proposal only if every command in it passes, so a Byzantine leader cannot order commands no
   * client sent. Every replica of a deployment should set it: fetched ancestors are trusted
   * because every QC holds honest voters that checked (see `onBlocks` in `core.ts`). Unset
   * (default): commands are taken as they come, signed or not; signatures present are still
   * carried on the wire.
   */
  readonly clientAuth?: RequestAuthenticator;
}

export interface ResolvedConfig {
  readonly chainId: string;
  readonly commitRule: CommitRule;
  readonly maxBlockCommands: number;
  readonly maxBlockBytes: number;
  readonly maxPayloadBytes: number;
  readonly baseTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly backoffFactor: number;
  readonly leaderElection: LeaderElectionFactory;
  readonly certificates: CertificateSchemeFactory;
  readonly hasher: Hasher;
  readonly syncWindow: number;
  readonly snapshotInterval: number;
  readonly stateChunkBytes: number;
  readonly maxStateBytes: number;
  readonly stateTickMs: number;
  readonly statusIntervalMs: number;
  readonly syncBatch: number;
  readonly maxPendingProposals: number;
  readonly maxPendingPerPeer: number;
  readonly maxFetchedBlocks: number;
  readonly maxMempool: number;
  readonly forwardRequests: boolean;
  readonly maxFutureViews: number;
  readonly voteTargets: number;
  readonly clientAuth: RequestAuthenticator | undefined;
}

/**
 * Most bytes a command's signed group adds to a block (as `groupWireBytes` and `requestWireBytes`
 * count them, at the codec's bounds): every digest of a full group, the largest signature the
 * codec takes, the client id and headers, and the command's own group reference.
 */
export const MAX_GROUP_WIRE_BYTES = 32 * MAX_GROUP_SIZE + LIMITS.maxSignatureBytes + 3 * LIMITS.maxIdLength + 24 + 8;

function int(path: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(path, `must be an integer in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

export function resolveConfig(config: HotStuffConfig): ResolvedConfig {
  if (config === null || typeof config !== 'object') throw new ConfigError('', 'config must be an object');
  if (typeof config.chainId !== 'string' || config.chainId.length === 0 || config.chainId.length > 256) {
    throw new ConfigError('chainId', 'must be a non-empty string of at most 256 characters');
  }
  const rule = config.commitRule ?? 'three-chain';
  if (rule !== 'three-chain' && rule !== 'two-chain') throw new ConfigError('commitRule', `must be 'three-chain' or 'two-chain'`);
  const baseTimeoutMs = int('baseTimeoutMs', config.baseTimeoutMs, 1000, 1, 3_600_000);
  const maxTimeoutMs = int('maxTimeoutMs', config.maxTimeoutMs, Math.max(60_000, baseTimeoutMs), baseTimeoutMs, 86_400_000);
  const backoffFactor = config.backoffFactor ?? 2;
  if (typeof backoffFactor !== 'number' || !(backoffFactor >= 1 && backoffFactor <= 16)) {
    throw new ConfigError('backoffFactor', 'must be a number in 1..16');
  }
  for (const k of ['leaderElection', 'certificates'] as const) {
    if (config[k] !== undefined && typeof config[k] !== 'function') throw new ConfigError(k, 'must be a factory function');
  }
  if (config.hasher !== undefined && typeof config.hasher?.digest !== 'function') throw new ConfigError('hasher', 'must be a Hasher');
  const maxPayloadBytes = int('maxPayloadBytes', config.maxPayloadBytes, 64 * 1024, 0, LIMITS.maxPayloadBytes);
  const maxBlockBytes = int('maxBlockBytes', config.maxBlockBytes, 1 << 20, 1024, LIMITS.maxFrameBytes / 2);
  if (maxBlockBytes < maxPayloadBytes + 1024) {
    throw new ConfigError('maxBlockBytes', `must leave room for one command of maxPayloadBytes (${maxPayloadBytes}) + 1 KiB, got ${maxBlockBytes}`);
  }
  const clientAuth = config.clientAuth;
  if (clientAuth !== undefined && typeof clientAuth?.check !== 'function') throw new ConfigError('clientAuth', 'must be a RequestAuthenticator');
  // A signed command travels with its group. Any admitted command must fit a block alone, or every
  // leader would propose it first and every replica refuse the block (see `addRequest`): so with
  // signatures required, a largest command and a largest group must fit together.
  if (clientAuth && maxBlockBytes < maxPayloadBytes + 1024 + MAX_GROUP_WIRE_BYTES) {
    throw new ConfigError(
      'maxBlockBytes',
      `with clientAuth must leave room for one command of maxPayloadBytes (${maxPayloadBytes}) + 1 KiB and its signed group (${MAX_GROUP_WIRE_BYTES}), got ${maxBlockBytes}`,
    );
  }
  const syncWindow = int('syncWindow', config.syncWindow, DEFAULT_SYNC_WINDOW, 1, 1_000_000);
  const snapshotInterval = int('snapshotInterval', config.snapshotInterval, 1000, 0, 1_000_000_000);
  // A replica that installs the state of a snapshot height then fetches the blocks above it from
  // peers' sync windows: with snapshots further apart than the window, those blocks may be gone
  // from every peer in an idle cluster, and the replica would stay behind for good.
  if (snapshotInterval >= syncWindow) {
    throw new ConfigError('snapshotInterval', `must be below syncWindow (${syncWindow}) or 0, got ${snapshotInterval}: state transfer fetches the blocks after a snapshot from peers' sync windows`);
  }
  return {
    chainId: config.chainId,
    maxBlockBytes,
    maxPayloadBytes,
    commitRule: rule,
    maxBlockCommands: int('maxBlockCommands', config.maxBlockCommands, 1000, 1, LIMITS.maxCommandsPerBlock),
    baseTimeoutMs,
    maxTimeoutMs,
    backoffFactor,
    leaderElection: config.leaderElection ?? activeRoundRobin,
    certificates: config.certificates ?? signatureListScheme,
    hasher: config.hasher ?? sha256Hasher,
    syncWindow,
    snapshotInterval,
    stateChunkBytes: int('stateChunkBytes', config.stateChunkBytes, 1 << 20, 1024, LIMITS.maxStatePieceBytes),
    maxStateBytes: int('maxStateBytes', config.maxStateBytes, 1 << 30, 1, LIMITS.maxStateBytes),
    stateTickMs: int('stateTickMs', config.stateTickMs, 1000, 1, 3_600_000),
    statusIntervalMs: int('statusIntervalMs', config.statusIntervalMs, 1000, 0, 3_600_000),
    syncBatch: int('syncBatch', config.syncBatch, 32, 1, LIMITS.maxBlocksPerResponse),
    maxPendingProposals: int('maxPendingProposals', config.maxPendingProposals, 64, 1, 100_000),
    maxPendingPerPeer: int('maxPendingPerPeer', config.maxPendingPerPeer, 8, 1, 100_000),
    maxFetchedBlocks: int('maxFetchedBlocks', config.maxFetchedBlocks, 2048, 1, 1_000_000),
    maxMempool: int('maxMempool', config.maxMempool, 100_000, 1, 100_000_000),
    forwardRequests: config.forwardRequests ?? true,
    voteTargets: int('voteTargets', config.voteTargets, 2, 1, 2),
    maxFutureViews: int('maxFutureViews', config.maxFutureViews, 1000, 1, 1_000_000_000),
    clientAuth,
  };
}
