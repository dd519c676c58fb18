/**
 * How `@phalanx/sim` drives PBFT (`pnpm sim --protocol pbft`): the config every simulated replica
 * gets, and the message surgery its adversaries need (equivocate, jump views, re-sign). It
 * implements `ProtocolSimulation` from @phalanx/interface, so this package does not depend on the
 * simulator at run time.
 */
import type { SimulationCluster as SimCluster, SimulationHookContext as SimHookContext } from '@phalanx/interface';
import type { ClientRequest, NodeId, ProtocolDefinition, Signer } from '@phalanx/interface';
import { encode, signingBytes, toHex } from '@phalanx/codec';
import { voteSigningBytes } from '@phalanx/quorum';
import type { PbftConfig } from './config.js';
import { KIND_CHECKPOINT, KIND_COMMIT, KIND_PREPARE, KIND_PRE_PREPARE, SIGN_DOMAIN, batchValue, signedBody } from './messages.js';
import type { PbftMessage, PrePrepareMsg } from './messages.js';
import { sha256 } from './sha256.js';

export interface PbftSimulation {
  readonly definition: ProtocolDefinition<PbftMessage, PbftConfig>;
  config(cluster: SimCluster, self: NodeId): PbftConfig;
  readonly hooks: {
    equivocate(msg: PbftMessage, ctx: SimHookContext): PbftMessage | undefined;
    future(msg: PbftMessage, bump: bigint, ctx: SimHookContext): PbftMessage | undefined;
    resign(msg: PbftMessage, ctx: SimHookContext): PbftMessage | undefined;
    invent(msg: PbftMessage, request: ClientRequest, ctx: SimHookContext): PbftMessage | undefined;
  };
  readonly capabilities: { readonly leaderFailover: boolean; readonly catchUp: boolean; readonly duplicateCommits: boolean; readonly clientAuth: boolean };
  describe(msg: PbftMessage): string;
}

/** Timing tuned to the simulator's 1–10 ms links. */
export const SIM_CONFIG: PbftConfig = {
  checkpointInterval: 8,
  watermarkWindow: 32,
  viewChangeTimeoutMs: 300,
  maxViewChangeTimeoutMs: 5_000,
  retransmitMs: 60,
  statusIntervalMs: 250,
  maxBatchSize: 64,
};

function signVote(signer: Signer, chainId: string, kind: string, height: bigint, round: bigint, digest: Uint8Array): Uint8Array {
  return signer.sign(voteSigningBytes(chainId, { kind, height, round, digest }));
}

function resignAny(m: PbftMessage, signer: Signer, chainId: string): PbftMessage {
  switch (m.type) {
    case 'pre-prepare':
      return { ...m, signature: signVote(signer, chainId, KIND_PRE_PREPARE, m.seq, m.view, m.digest) };
    case 'prepare':
    case 'commit':
      return { ...m, signature: signVote(signer, chainId, m.type === 'prepare' ? KIND_PREPARE : KIND_COMMIT, m.seq, m.view, m.digest) };
    case 'checkpoint':
      return { ...m, signature: signVote(signer, chainId, KIND_CHECKPOINT, m.seq, 0n, m.digest) };
    case 'request':
    case 'fetch-batch':
    case 'batch':
      return m; // unsigned (see RequestMsg, FetchBatchMsg)
    default:
      return { ...m, signature: signer.sign(signingBytes(SIGN_DOMAIN, chainId, signedBody(m))) };
  }
}

/** Builds a simulation adapter; `extra` lets a test run the mutant (e.g. `unsafeQuorumOverride`). */
export function pbftSimulation(definition: ProtocolDefinition<PbftMessage, PbftConfig>, extra: PbftConfig = {}): PbftSimulation {
  return {
    definition,
    config: (cluster) => ({ ...SIM_CONFIG, chainId: cluster.chainId, ...(cluster.clientAuth ? { clientAuth: cluster.clientAuth } : {}), ...extra }),
    hooks: {
      equivocate(msg, ctx) {
        if (msg.type === 'pre-prepare') {
          // The twin batch: drop the last request, or add a marker one to an empty batch.
          const batch: readonly ClientRequest[] =
            msg.batch.length > 0 ? msg.batch.slice(0, -1) : [{ client: `twin-${ctx.self}`, seq: msg.seq, payload: new Uint8Array(0) }];
          const digest = sha256(encode(batchValue(batch)));
          ctx.memo.set(`pbft-twin:${toHex(msg.digest)}`, digest);
          const twin: PrePrepareMsg = { ...msg, batch, digest };
          return resignAny(twin, ctx.signer, ctx.chainId);
        }
        if (msg.type === 'prepare' || msg.type === 'commit') {
          const twin = ctx.memo.get(`pbft-twin:${toHex(msg.digest)}`) as Uint8Array | undefined;
          return resignAny({ ...msg, digest: twin ?? sha256(msg.digest) }, ctx.signer, ctx.chainId);
        }
        if (msg.type === 'checkpoint') return resignAny({ ...msg, digest: sha256(msg.digest) }, ctx.signer, ctx.chainId);
        return undefined;
      },
      future(msg, bump, ctx) {
        if (msg.type === 'pre-prepare' || msg.type === 'prepare' || msg.type === 'commit') {
          return resignAny({ ...msg, view: msg.view + bump }, ctx.signer, ctx.chainId);
        }
        if (msg.type === 'view-change') return resignAny({ ...msg, newView: msg.newView + bump }, ctx.signer, ctx.chainId);
        return undefined;
      },
      resign: (msg, ctx) => resignAny(msg, ctx.signer, ctx.chainId),
      invent(msg, request, ctx) {
        if (msg.type !== 'pre-prepare') return undefined;
        const batch = [...msg.batch, request];
        return resignAny({ ...msg, batch, digest: sha256(encode(batchValue(batch))) }, ctx.signer, ctx.chainId);
      },
    },
    capabilities: { leaderFailover: true, catchUp: true, duplicateCommits: false, clientAuth: true },
    describe(m) {
      switch (m.type) {
        case 'pre-prepare':
          return `PRE-PREPARE v${m.view} n${m.seq} ${toHex(m.digest).slice(0, 8)} [${m.batch.length}]`;
        case 'prepare':
        case 'commit':
          return `${m.type.toUpperCase()} ${m.voter} v${m.view} n${m.seq} ${toHex(m.digest).slice(0, 8)}`;
        case 'checkpoint':
          return `CHECKPOINT ${m.voter} n${m.seq} ${toHex(m.digest).slice(0, 8)}`;
        case 'view-change':
          return `VIEW-CHANGE ${m.replica} →v${m.newView} h=${m.stable.seq} P=${m.prepared.length}`;
        case 'new-view':
          return `NEW-VIEW v${m.view} V=${m.viewChanges.length} O=${m.prePrepares.length}`;
        case 'request':
          return `REQUEST ×${m.requests.length} ${m.requests.map((r) => `${r.client}#${r.seq}`).slice(0, 3).join(',')}${m.requests.length > 3 ? ',…' : ''}`;
        case 'fetch':
          return `FETCH have=${m.have}`;
        case 'state':
          return `STATE cp=${m.checkpoint?.seq ?? '-'} entries=${m.entries.length}`;
        case 'fetch-batch':
          return `FETCH-BATCH n${m.seq} ${toHex(m.digest).slice(0, 8)}`;
        case 'batch':
          return `BATCH n${m.seq} [${m.batch.length}]`;
      }
    },
  };
}

export type { SimCluster, SimHookContext };
