/**
 * A deliberately tiny "protocol" for harness tests: r0 is the leader; it batches requests on a
 * timer, broadcasts a signed proposal, and everyone commits it on receipt. Variants break it on
 * purpose (forking leader, silent leader) so the harness's checks can be shown to fail.
 */
import type { ClientRequest, CoreContext, CoreStatus, ProtocolCore, ProtocolDefinition, Ready, TimerOp, Outbound, CommittedBatch } from '@phalanx/interface';

type ToyMsg = { t: 'propose'; height: bigint; reqs: ClientRequest[]; sig: Uint8Array } | { t: 'ack'; height: bigint };

const enc = new TextEncoder();
const dec = new TextDecoder();

export const toyCodec = {
  encode(m: ToyMsg): Uint8Array {
    return enc.encode(
      JSON.stringify(m, (_k, v: unknown) =>
        typeof v === 'bigint' ? `n${v}` : v instanceof Uint8Array ? { b: Buffer.from(v).toString('base64') } : v,
      ),
    );
  },
  decode(b: Uint8Array): ToyMsg {
    return JSON.parse(dec.decode(b), (_k, v: unknown) => {
      if (typeof v === 'string' && /^n\d+$/.test(v)) return BigInt(v.slice(1));
      if (v && typeof v === 'object' && 'b' in v) return new Uint8Array(Buffer.from((v as { b: string }).b, 'base64'));
      return v;
    }) as ToyMsg;
  },
};

export interface ToyConfig {
  readonly mode?: 'honest' | 'fork' | 'silent';
  readonly batchMs?: number;
}

class ToyCore implements ProtocolCore<ToyMsg> {
  private pending: ClientRequest[] = [];
  private height = 0n;
  private out: { send: Outbound<ToyMsg>[]; commit: CommittedBatch[]; timers: TimerOp[] } = { send: [], commit: [], timers: [] };
  private armed = false;
  private persistId = 0n;
  private persistPending = false;

  constructor(
    private readonly ctx: CoreContext,
    private readonly cfg: ToyConfig,
  ) {}

  private get leader(): boolean {
    return this.ctx.self === this.ctx.validators.validators[0]!.id;
  }

  step(input: Parameters<ProtocolCore<ToyMsg>['step']>[0]): void {
    if (input.type === 'request') {
      if (!this.leader || this.cfg.mode === 'silent') return;
      this.pending.push(input.request);
      if (!this.armed) {
        this.armed = true;
        this.out.timers.push({ op: 'set', id: 'batch', ms: this.cfg.batchMs ?? 5 });
      }
    } else if (input.type === 'timeout' && input.timer === 'batch') {
      this.armed = false;
      const reqs = this.pending;
      this.pending = [];
      if (reqs.length === 0) return;
      const height = ++this.height;
      const sig = this.ctx.signer.sign(enc.encode(`toy/${height}`));
      if (this.cfg.mode === 'fork') {
        // Send a different order to every other replica: a fork the harness must catch.
        this.ctx.validators.validators.forEach((v, i) => {
          if (v.id !== this.ctx.self) this.out.send.push({ to: v.id, msg: { t: 'propose', height, reqs: i % 2 ? [...reqs].reverse() : reqs, sig } });
        });
      } else this.out.send.push({ to: 'all', msg: { t: 'propose', height, reqs, sig } });
      this.out.commit.push({ height, requests: reqs });
      this.persistPending = true;
    } else if (input.type === 'message' && input.msg.t === 'propose') {
      const leader = this.ctx.validators.validators[0]!;
      if (input.from !== leader.id || !this.ctx.verifier.verify(leader.publicKey, enc.encode(`toy/${input.msg.height}`), input.msg.sig)) return;
      this.height = input.msg.height;
      this.out.commit.push({ height: input.msg.height, requests: input.msg.reqs });
      this.out.send.push({ to: leader.id, msg: { t: 'ack', height: input.msg.height } });
    }
  }

  hasReady(): boolean {
    return this.out.send.length + this.out.commit.length + this.out.timers.length > 0 || this.persistPending;
  }

  ready(): Ready<ToyMsg> {
    const r: Ready<ToyMsg> = {
      ...(this.persistPending ? { persist: { id: ++this.persistId, append: [] } } : {}),
      send: this.out.send,
      commit: this.out.commit,
      timers: this.out.timers,
      events: [],
    };
    this.persistPending = false;
    this.out = { send: [], commit: [], timers: [] };
    return r;
  }

  status(): CoreStatus {
    return { protocol: 'toy', node: this.ctx.self, view: 0n, leader: this.ctx.validators.validators[0]!.id, committedHeight: this.height };
  }
}

export const toy: ProtocolDefinition<ToyMsg, ToyConfig> = {
  name: 'toy',
  codec: toyCodec,
  create: (ctx, config) => new ToyCore(ctx, config),
};
