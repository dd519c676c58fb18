/** One core under test, fed hand-made messages; collects everything it outputs. */
import type { CommittedBatch, Input, ProtocolEvent, Ready, RecoveredState, LogRecord } from '@phalanx/interface';
import { activeRoundRobin, hotstuff, roundRobin, VIEW_TIMER } from '../src/index.js';
import type { LeaderElectionFactory } from '../src/index.js';
import type { HotStuffConfig, HotStuffCore, HotStuffMessage } from '../src/index.js';
import { Crafter } from './craft.js';
import { fakeValidators, fakeVerifier, seededRng } from './harness.js';

export class Solo {
  readonly v = fakeValidators(4);
  readonly craft = new Crafter(this.v.validators, this.v.signers);
  core: HotStuffCore;
  readys: Ready<HotStuffMessage>[] = [];
  hardState: Uint8Array | undefined;
  log: LogRecord[] = [];
  commits: CommittedBatch[] = [];
  events: ProtocolEvent[] = [];
  sent: Array<{ to: string; msg: HotStuffMessage }> = [];
  /** Durations the view timer was set to, in order. */
  timerSets: number[] = [];

  constructor(
    readonly self = 'r0',
    readonly config: Partial<HotStuffConfig> = {},
    recovered?: RecoveredState,
  ) {
    if (!config.leaderElection) {
      // By default the core under test never leads, so every proposal it sees is one we made.
      const others = this.v.ids.filter((id) => id !== self);
      const leader = (view: bigint): string => others[Number(view % BigInt(others.length))]!;
      const election: LeaderElectionFactory = () => ({
        name: 'others-only',
        leader,
        eligible: (view, proposer, _parent, proof) => proof.length === 0 && leader(view) === proposer,
        prove: () => undefined,
      });
      this.config = { ...config, leaderElection: election };
      this.craft.leaderOf = leader;
    } else if (config.leaderElection !== roundRobin && config.leaderElection !== activeRoundRobin) {
      // The crafter's default proposer is round-robin's; with activeRoundRobin tests name the proposer when it differs.
      throw new Error('Solo supports round-robin, active round-robin or its default election');
    }
    this.core = this.create(recovered);
  }

  create(recovered?: RecoveredState): HotStuffCore {
    return hotstuff.create(
      { self: this.self, validators: this.v.validators, signer: this.v.signers.get(this.self)!, verifier: fakeVerifier, rng: seededRng(5) },
      { chainId: 'test', baseTimeoutMs: 100, ...this.config },
      recovered,
    ) as HotStuffCore;
  }

  restart(): void {
    const applied = this.commits.length ? this.commits[this.commits.length - 1]!.height : 0n;
    this.core = this.create({ hardState: this.hardState, log: this.log, appliedHeight: applied });
    this.drain();
  }

  step(input: Input<HotStuffMessage>): void {
    this.core.step(input);
    this.drain();
  }

  from(peer: string, msg: HotStuffMessage): void {
    this.step({ type: 'message', from: peer, msg });
  }

  drain(): void {
    while (this.core.hasReady()) {
      const r = this.core.ready();
      this.readys.push(r);
      if (r.persist?.hardState) this.hardState = r.persist.hardState;
      if (r.persist) this.log.push(...r.persist.append);
      this.commits.push(...r.commit);
      this.events.push(...r.events);
      for (const s of r.send) this.sent.push({ to: s.to, msg: s.msg });
      for (const t of r.timers) if (t.op === 'set' && t.id === VIEW_TIMER) this.timerSets.push(t.ms);
    }
  }

  /** Messages of one type sent since the last call (then forgotten). */
  take<T extends HotStuffMessage['type']>(type: T): Array<{ to: string; msg: Extract<HotStuffMessage, { type: T }> }> {
    const out = this.sent.filter((s) => s.msg.type === type) as Array<{ to: string; msg: Extract<HotStuffMessage, { type: T }> }>;
    this.sent = this.sent.filter((s) => s.msg.type !== type);
    return out;
  }

  votesFor(view: bigint): number {
    return this.sent.filter((s) => s.msg.type === 'vote' && s.msg.view === view).length;
  }

  detail(key: string): unknown {
    return this.core.status().detail?.[key];
  }
}
