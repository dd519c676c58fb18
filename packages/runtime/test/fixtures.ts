/**
 * Small fixtures for runtime tests: a counter protocol core (one replica orders requests and
 * tells the others), an append-only state machine, and instrumented storage/transport wrappers
 * that record the order of operations.
 */
import { decode, encode, readArray, readBytes, readString, readU64 } from '@phalanx/codec';
import { DecodeError } from '@phalanx/interface';
import type {
  ClientRequest,
  CommittedBatch,
  CoreContext,
  CoreStatus,
  Input,
  MessageCodec,
  Outbound,
  PersistRequest,
  ProtocolCore,
  ProtocolDefinition,
  ProtocolEvent,
  Ready,
  RecoveredState,
  StateMachine,
  Storage,
  TimerOp,
  Transport,
} from '@phalanx/interface';
import { createHash } from 'node:crypto';

export type CounterMsg = { readonly kind: 'ack'; readonly height: bigint } | { readonly kind: 'tick'; readonly n: bigint };

export const counterCodec: MessageCodec<CounterMsg> = {
  encode: (m) => encode(m.kind === 'ack' ? ['ack', m.height] : ['tick', m.n]),
  decode: (b) => {
    const a = readArray(decode(b, { maxBytes: 1024 }), 'msg', 2);
    const kind = readString(a[0], 'msg.kind');
    if (kind === 'ack') return { kind, height: readU64(a[1], 'msg.height') };
    if (kind === 'tick') return { kind, n: readU64(a[1], 'msg.n') };
    throw new DecodeError(`msg.kind: unknown ${kind}`);
  },
};

export interface CounterConfig {
  /** Ticks to fire (each re-arms the next), `tickMs` apart. */
  readonly ticks?: number;
  readonly tickMs?: number;
  /** Report state every `checkpoint` heights. */
  readonly checkpoint?: bigint;
  /** Persist (hard state only, nothing sent) on every message received: a persist-only Ready. */
  readonly persistOnMessage?: boolean;
  /** On every message: a `deferrable` persist and an `ack` of height 0 sent in the same Ready. */
  readonly deferOnMessage?: boolean;
  /** Mark the persists of requests `deferrable` too (wrong for a real core: it tests the runtime). */
  readonly deferRequests?: boolean;
  /** On the first tick, install this state (as a state transfer would): `Ready.restore`. */
  readonly restoreOnTick?: { readonly height: bigint; readonly snapshot: Uint8Array };
  /** On `stop`: persist a record (and ask to send, which the stopped runtime must not). */
  readonly recordStop?: boolean;
}

/**
 * Every replica orders the requests it receives itself (no agreement — this core exists to test
 * the runtime's plumbing, not consensus): persist a record, tell everyone, commit.
 */
export class CounterCore implements ProtocolCore<CounterMsg> {
  nextIndex = 1n;
  height = 0n;
  ticks = 0;
  readonly received: Array<{ from: string; msg: CounterMsg }> = [];
  readonly persistedUpTo: bigint[] = [];
  readonly applied: bigint[] = [];
  /** The `applied` inputs as stepped (digest, snapshot and its hash). */
  readonly appliedInputs: Extract<Input<CounterMsg>, { type: 'applied' }>[] = [];
  /** Every request stepped in, as the runtime handed it over. */
  readonly requests: ClientRequest[] = [];
  /** `stop` inputs stepped. */
  stops = 0;
  recoveredFrom: RecoveredState | undefined;
  private persistId = 0n;
  private persist: { append: { index: bigint; data: Uint8Array }[]; hardState?: Uint8Array; deferrable?: boolean } | undefined;
  private send: Outbound<CounterMsg>[] = [];
  private commit: CommittedBatch[] = [];
  private timers: TimerOp[] = [];
  private restore: { height: bigint; snapshot: Uint8Array } | undefined;
  /** Events the next Ready reports (tests put them here). */
  events: ProtocolEvent[] = [];

  constructor(
    private readonly ctx: CoreContext,
    private readonly cfg: CounterConfig,
    rec?: RecoveredState,
  ) {
    this.recoveredFrom = rec;
    if ((cfg.ticks ?? 0) > 0) this.timers.push({ op: 'set', id: 'tick', ms: cfg.tickMs ?? 10 });
    if (rec) {
      if (rec.hardState) this.ticks = Number(readU64(decode(rec.hardState), 'ticks'));
      this.height = rec.appliedHeight;
      for (const r of rec.log) {
        this.nextIndex = r.index + 1n;
        if (r.index > rec.appliedHeight) this.commitRecord(r.index, r.data); // replay what the app lacks
      }
    }
  }

  private commitRecord(height: bigint, data: Uint8Array): void {
    const a = readArray(decode(data), 'record', 3);
    const request: ClientRequest = { client: readString(a[0], 'c'), seq: readU64(a[1], 's'), payload: readBytes(a[2], 'p') };
    const cp = this.cfg.checkpoint ?? 0n;
    this.commit.push({ height, requests: [request], ...(cp > 0n && height % cp === 0n ? { reportState: true } : {}) });
    this.height = height;
  }

  step(input: Input<CounterMsg>): void {
    switch (input.type) {
      case 'request': {
        const r = input.request;
        this.requests.push(r);
        const index = this.nextIndex++;
        const data = encode([r.client, r.seq, r.payload]);
        (this.persist ??= { append: [] }).append.push({ index, data });
        this.persist.deferrable = this.cfg.deferRequests === true;
        this.send.push({ to: 'all', msg: { kind: 'ack', height: index } });
        this.commitRecord(index, data);
        break;
      }
      case 'message':
        this.received.push({ from: input.from, msg: input.msg });
        if (this.cfg.persistOnMessage) (this.persist ??= { append: [] }).hardState = encode(BigInt(this.ticks));
        if (this.cfg.deferOnMessage) {
          this.persist ??= { append: [], deferrable: true };
          this.persist.hardState = encode(BigInt(this.received.length));
          this.send.push({ to: 'all', msg: { kind: 'ack', height: 0n } });
        }
        break;
      case 'timeout':
        if (input.timer === 'tick') {
          this.ticks++;
          const r = this.cfg.restoreOnTick;
          if (r && this.ticks === 1) {
            this.restore = { height: r.height, snapshot: r.snapshot };
            this.height = r.height;
            this.nextIndex = r.height + 1n;
          }
          (this.persist ??= { append: [] }).hardState = encode(BigInt(this.ticks));
          this.send.push({ to: 'all', msg: { kind: 'tick', n: BigInt(this.ticks) } });
          if (this.ticks < (this.cfg.ticks ?? 0)) this.timers.push({ op: 'set', id: 'tick', ms: this.cfg.tickMs ?? 10 });
        }
        break;
      case 'persisted':
        this.persistedUpTo.push(input.upTo);
        break;
      case 'stop':
        this.stops++;
        if (this.cfg.recordStop) {
          (this.persist ??= { append: [] }).append.push({ index: this.nextIndex++, data: encode('stopped') });
          this.send.push({ to: 'all', msg: { kind: 'ack', height: 0n } });
        }
        break;
      case 'applied':
        this.applied.push(input.height);
        this.appliedInputs.push(input);
        break;
    }
  }

  hasReady(): boolean {
    return !!this.persist || !!this.restore || this.send.length > 0 || this.commit.length > 0 || this.timers.length > 0 || this.events.length > 0;
  }

  ready(): Ready<CounterMsg> {
    let persist: PersistRequest | undefined;
    if (this.persist) {
      const p = this.persist;
      persist = { id: ++this.persistId, append: p.append, ...(p.hardState ? { hardState: p.hardState } : {}), ...(p.deferrable ? { deferrable: true } : {}) };
    }
    const r: Ready<CounterMsg> = {
      ...(persist ? { persist } : {}),
      ...(this.restore ? { restore: this.restore } : {}),
      send: this.send,
      commit: this.commit,
      timers: this.timers,
      events: this.events,
    };
    this.restore = undefined;
    this.events = [];
    this.persist = undefined;
    this.send = [];
    this.commit = [];
    this.timers = [];
    return r;
  }

  status(): CoreStatus {
    return { protocol: 'counter', node: this.ctx.self, view: 0n, committedHeight: this.height };
  }
}

export function counterProtocol(created: CounterCore[] = []): ProtocolDefinition<CounterMsg, CounterConfig> {
  return {
    name: 'counter',
    codec: counterCodec,
    create(ctx, config, rec) {
      const c = new CounterCore(ctx, config, rec);
      created.push(c);
      return c;
    },
  };
}

/** Appends every payload to a list; the result of a command is its position and a running hash. */
export class LogMachine implements StateMachine {
  entries: string[] = [];
  hash: Uint8Array = new Uint8Array(32);
  constructor(private readonly trace?: string[]) {}
  apply(commands: readonly ClientRequest[], ctx: { height: bigint }): Uint8Array[] {
    return commands.map((c) => {
      this.trace?.push(`apply:${ctx.height}`);
      this.entries.push(`${c.client}:${c.seq}:${Buffer.from(c.payload).toString('hex')}`);
      this.hash = new Uint8Array(createHash('sha256').update(this.hash).update(c.payload).digest());
      return encode([this.entries.length, this.hash]);
    });
  }
  snapshot(): Uint8Array {
    return encode([this.entries, this.hash]);
  }
  restore(s: Uint8Array): void {
    this.trace?.push('restore');
    const a = readArray(decode(s), 'snap', 2);
    this.entries = readArray(a[0], 'entries').map((e) => readString(e, 'e', 1 << 20));
    this.hash = readBytes(a[1], 'hash');
  }
}

/** Wraps a storage so every staged write and sync is recorded; `syncDelayMs` makes syncs slow. */
export function traceStorage(inner: Storage, trace: string[], syncDelayMs = 5): Storage {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'append') return (recs: readonly { index: bigint }[]) => {
        trace.push(`append:${recs.map((r) => r.index).join(',')}`);
        target.append(recs as never);
      };
      if (prop === 'putHardState') return (name: string, v: Uint8Array) => {
        trace.push(`hardstate`);
        target.putHardState(name, v);
      };
      if (prop === 'snapshots') {
        const snaps = target.snapshots;
        return new Proxy(snaps, {
          get(t, p2, r2) {
            if (p2 === 'begin') return (meta: { height: bigint }) => {
              trace.push(`snapshot:${meta.height}`);
              return t.begin(meta as never);
            };
            const f = Reflect.get(t, p2, r2) as unknown;
            return typeof f === 'function' ? (f as (...a: unknown[]) => unknown).bind(t) : f;
          },
        });
      }
      if (prop === 'sync') return async () => {
        trace.push('sync:start');
        await new Promise((r) => setTimeout(r, syncDelayMs));
        await target.sync();
        trace.push('sync:end');
      };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export function traceTransport(inner: Transport, trace: string[]): Transport {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'send') return (to: string, f: Uint8Array) => {
        trace.push(`send:${to}:${counterCodec.decode(f).kind}`);
        target.send(to, f);
      };
      if (prop === 'broadcast') return (f: Uint8Array) => {
        trace.push(`send:all:${counterCodec.decode(f).kind}`);
        target.broadcast(f);
      };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
