/**
 * The simulator adapter (`@phalanx/sim` imports `simulation` from this package). Typed
 * structurally so the protocol package does not depend on the simulator. The hooks do the
 * message surgery only this package can do: conflicting twins of a proposal (and votes that follow
 * the twin), messages moved into the future, and re-signing with another key.
 */
import type { SimulationCluster as SimCluster, SimulationHookContext as SimHookContext } from '@phalanx/interface';
import type { ClientRequest, ProtocolDefinition } from '@phalanx/interface';
import { signVote } from '@phalanx/quorum';
import { toHex } from '@phalanx/codec';
import { blockHash, sha256Hasher } from './block.js';
import { PROPOSAL_KIND, TIMEOUT_KIND, VOTE_KIND } from './certificates.js';
import type { HotStuffConfig } from './config.js';
import type { Block, HotStuffMessage } from './types.js';

function signProposal(block: Block, ctx: SimHookContext): HotStuffMessage {
  const hash = blockHash(sha256Hasher, block);
  const signature = signVote(ctx.signer, ctx.chainId, block.proposer, { kind: PROPOSAL_KIND, height: block.height, round: block.view, digest: hash }).signature;
  return { type: 'proposal', block, signature };
}

function resign(msg: HotStuffMessage, ctx: SimHookContext, bump = 0n): HotStuffMessage | undefined {
  switch (msg.type) {
    case 'proposal': {
      const block = { ...msg.block, view: msg.block.view + bump };
      const out = signProposal(block, ctx);
      return msg.tc && out.type === 'proposal' ? { ...out, tc: msg.tc } : out;
    }
    case 'vote': {
      const view = msg.view + bump;
      const share = signVote(ctx.signer, ctx.chainId, ctx.self, { kind: VOTE_KIND, height: msg.height, round: view, digest: msg.block }).signature;
      return { ...msg, view, share };
    }
    case 'timeout': {
      const view = msg.view + bump;
      const signature = signVote(ctx.signer, ctx.chainId, ctx.self, { kind: TIMEOUT_KIND, height: msg.highQC.view, round: view, digest: new Uint8Array(0) }).signature;
      return { ...msg, view, signature };
    }
    default:
      return undefined;
  }
}

export const simulationTiming = { baseTimeoutMs: 200, maxTimeoutMs: 3_000 } as const;

export function createSimulation(definition: ProtocolDefinition<HotStuffMessage, HotStuffConfig>, extra: Partial<HotStuffConfig> = {}) {
  return {
    definition,
    config: (cluster: SimCluster): HotStuffConfig => ({ chainId: cluster.chainId, ...simulationTiming, ...(cluster.clientAuth ? { clientAuth: cluster.clientAuth } : {}), ...extra }),
    capabilities: {
      leaderFailover: true,
      catchUp: true,
      // A client retry that reaches a replica which has not yet seen the first copy can be ordered
      // again; exactly-once is the application's job (dedupe by client and sequence number).
      duplicateCommits: true,
      clientAuth: true,
    },
    hooks: {
      equivocate(msg: HotStuffMessage, ctx: SimHookContext): HotStuffMessage | undefined {
        if (msg.type === 'proposal') {
          const cmds = msg.block.commands;
          if (cmds.length === 0) return undefined; // cannot conflict without forging a request
          const twin: Block = { ...msg.block, commands: cmds.length > 1 ? [...cmds].reverse() : [] };
          ctx.memo.set(toHex(blockHash(sha256Hasher, msg.block)), blockHash(sha256Hasher, twin));
          const out = signProposal(twin, ctx);
          return msg.tc && out.type === 'proposal' ? { ...out, tc: msg.tc } : out;
        }
        if (msg.type === 'vote') {
          const twin = ctx.memo.get(toHex(msg.block)) as Uint8Array | undefined;
          if (!twin) return undefined;
          const share = signVote(ctx.signer, ctx.chainId, ctx.self, { kind: VOTE_KIND, height: msg.height, round: msg.view, digest: twin }).signature;
          return { ...msg, block: twin, share };
        }
        return undefined;
      },
      future: (msg: HotStuffMessage, bump: bigint, ctx: SimHookContext) => resign(msg, ctx, bump),
      resign: (msg: HotStuffMessage, ctx: SimHookContext) => resign(msg, ctx),
      invent(msg: HotStuffMessage, request: ClientRequest, ctx: SimHookContext): HotStuffMessage | undefined {
        if (msg.type !== 'proposal') return undefined;
        const out = signProposal({ ...msg.block, commands: [...msg.block.commands, request] }, ctx);
        return msg.tc && out.type === 'proposal' ? { ...out, tc: msg.tc } : out;
      },
    },
    describe(msg: HotStuffMessage): string {
      switch (msg.type) {
        case 'proposal':
          return `proposal v${msg.block.view} h${msg.block.height} by ${msg.block.proposer} qc=v${msg.block.justify.view}${msg.tc ? ` tc=v${msg.tc.view}` : ''} cmds=${msg.block.commands.length}`;
        case 'vote':
          return `vote v${msg.view} h${msg.height} ${toHex(msg.block).slice(0, 8)}`;
        case 'timeout':
          return `timeout v${msg.view} hqc=v${msg.highQC.view}${msg.tc ? ` tc=v${msg.tc.view}` : ''}`;
        case 'request-blocks':
          return `request-blocks ${toHex(msg.hash).slice(0, 8)} x${msg.count}`;
        case 'blocks':
          return `blocks ${msg.blocks.map((b) => `h${b.height}`).join(',')}`;
        case 'requests':
          return `requests x${msg.requests.length}`;
        case 'status':
          return `status hqc=v${msg.highQC.view}${msg.reply ? ' ?' : ''}`;
        case 'checkpoint':
          return `checkpoint h${msg.height} state=${toHex(msg.state).slice(0, 8)} ${msg.size}B x${msg.votes.length}`;
        case 'request-state':
          return `request-state h${msg.height} @${msg.offset}+${msg.length}`;
        case 'state':
          return `state h${msg.height} @${msg.offset}+${msg.data.length}/${msg.total}${msg.cert ? ' cert' : ''}`;
      }
    },
  };
}

export type { SimCluster, SimHookContext };
