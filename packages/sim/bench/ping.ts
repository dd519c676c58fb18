/**
 * A do-almost-nothing protocol whose codec is one varint: every replica answers each message
 * with one more until a budget is spent. Measures the simulator's own cost per delivery
 * (event queue, network model, Ready handling) — the ceiling any protocol runs under.
 */
import type { CoreContext, Input, ProtocolCore, Ready } from '@phalanx/interface';
import { DecodeError } from '@phalanx/interface';
import type { SimAdapter } from '../src/index.js';

const EMPTY: Ready<number> = { send: [], commit: [], timers: [], events: [] };

class PingCore implements ProtocolCore<number> {
  private out: Array<{ to: string; msg: number }> = [];
  constructor(private readonly ctx: CoreContext) {
    // Every replica starts 50 ping-pong chains with every peer, so the queue stays busy.
    for (const v of ctx.validators.validators) if (v.id !== ctx.self) for (let k = 0; k < 50; k++) this.out.push({ to: v.id, msg: 1 });
  }
  step(i: Input<number>): void {
    if (i.type === 'message' && i.msg < 1_000_000) this.out.push({ to: i.from, msg: i.msg + 1 });
  }
  hasReady(): boolean {
    return this.out.length > 0;
  }
  ready(): Ready<number> {
    if (this.out.length === 0) return EMPTY;
    const send = this.out;
    this.out = [];
    return { send, commit: [], timers: [], events: [] };
  }
  status() {
    return { protocol: 'ping', node: this.ctx.self, view: 0n, committedHeight: 0n };
  }
}

export const pingAdapter: SimAdapter<number, null> = {
  definition: {
    name: 'ping',
    codec: {
      encode: (m) => Uint8Array.of(m & 0xff, (m >>> 8) & 0xff, (m >>> 16) & 0xff),
      decode: (b) => {
        if (b.length !== 3) throw new DecodeError('ping: expected 3 bytes');
        return b[0]! | (b[1]! << 8) | (b[2]! << 16);
      },
    },
    create: (ctx) => new PingCore(ctx),
  },
  config: () => null,
  capabilities: { leaderFailover: false },
};
