/**
 * Distributed key generation: Joint-Feldman with complaints, as described (and analysed) by
 * Gennaro, Jarecki, Krawczyk, Rabin, "Secure Distributed Key Generation for Discrete-Log Based
 * Cryptosystems" (J. Cryptology 2007) — §3 "JF-DKG" plus the complaint/justification rounds of
 * their Fig. 2 step 1(b)–1(d) and step 2 (qualification). Every party is a dealer of a random
 * secret; the group secret is the sum of the qualified dealers' secrets and is never computed by
 * anyone. Written sans-I/O like a protocol core: messages and timer expiries in, messages and
 * timer requests out; randomness from the injected Rng; no clocks.
 *
 * Phases (each ends when its timer fires; the runtime must run them long enough for every honest
 * message to arrive — the synchrony assumption of the paper):
 *   dealing     — broadcast commitments C_jk = a_jk·G1, send s_ji = f_j(i) to each party i privately.
 *   complaining — at the end of dealing, complain (broadcast) against each dealer whose share to us
 *                 is missing or fails the Feldman check (GJKR Fig. 2 step 1(b)).
 *   justifying  — a dealer answers each complaint by broadcasting the disputed share (step 1(c)).
 *   done        — QUAL = dealers with commitments, at most t complaints, every complaint answered by
 *                 a share that verifies (step 1(d), 2). x_i = Σ_{j∈QUAL} s_ji, X = Σ_{j∈QUAL} C_j0,
 *                 and every key share X_m = Σ_j Σ_k m^k·C_jk (step 4).
 *
 * Limits: broadcasts must be reliable (every honest party sees the same commitments, complaints
 * and justifications before the deadlines) and point-to-point shares confidential and
 * authenticated — both supplied by the caller. JF-DKG lets a rushing adversary bias the
 * distribution of X (GJKR §3); threshold BLS signing stays secure with such keys (Gennaro et al.,
 * "Secure Applications of Pedersen's Distributed Key Generation Protocol", CT-RSA 2003), but do
 * not use X where a uniformly random key is required.
 */
import type { CoreStatus, Input, NodeId, Outbound, ProtocolCore, ProtocolEvent, Ready, Rng, TimerOp, MessageCodec } from '@phalanx/interface';
import { ConfigError, DecodeError } from '@phalanx/interface';
import { decode, encode, readArray, readBytes, readMap, readString, readUint } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { Fr, MAX_INDEX, scalarFromBytes, scalarToBytes } from './field.js';
import { commitPolynomial, decodeCommitments, evalCommitments, verifySharePoints } from './feldman.js';
import { encodeG1, G1, PUBLIC_KEY_BYTES } from './points.js';
import type { G1Point } from './points.js';
import { evalPoly } from './field.js';
import { randomPolynomial } from './shamir.js';
import { randomScalar } from './field.js';
import type { Share } from './shamir.js';
import type { ThresholdPublicKey } from './threshold.js';

export type DkgMessage =
  | { readonly type: 'dkg/commitments'; readonly session: string; readonly dealer: number; readonly commitments: readonly Uint8Array[] }
  | { readonly type: 'dkg/share'; readonly session: string; readonly dealer: number; readonly recipient: number; readonly share: Uint8Array }
  | { readonly type: 'dkg/complaint'; readonly session: string; readonly complainer: number; readonly dealer: number }
  | { readonly type: 'dkg/justification'; readonly session: string; readonly dealer: number; readonly complainer: number; readonly share: Uint8Array };

export interface DkgConfig {
  /** Names this run; messages of other sessions are ignored. */
  readonly session: string;
  /** All parties, in index order: participants[i-1] is party i. Same list at every party. */
  readonly participants: readonly NodeId[];
  readonly self: NodeId;
  /** t: any t+1 parties can sign, t cannot. Needs n ≥ 2t+1 (GJKR: honest majority). */
  readonly threshold: number;
  readonly rng: Rng;
  /** Length of each phase, asked of the runtime as a timer. Default 5000 ms. */
  readonly phaseMs?: number;
}

export type DkgPhase = 'dealing' | 'complaining' | 'justifying' | 'done' | 'failed';

export type DisqualifyReason =
  | 'no-commitments'
  | 'malformed-commitments'
  | 'too-many-complaints'
  | 'unanswered-complaint'
  | 'bad-justification';

export interface DkgResult {
  /** Group key, threshold and every party's public key share (identical at every honest party). */
  readonly publicKey: ThresholdPublicKey;
  /** This party's share x_i of the group secret. Keep it secret. */
  readonly secretShare: Share;
  readonly qualified: readonly number[];
  readonly disqualified: readonly { readonly dealer: number; readonly reason: DisqualifyReason }[];
}

interface DealerState {
  commitments?: readonly Uint8Array[];
  points?: G1Point[];
  malformed?: boolean;
  /** Our share from this dealer, as received (checked at the end of dealing). */
  share?: bigint;
  complaints: Set<number>;
  /** complainer → revealed share (first one wins). */
  justifications: Map<number, bigint>;
}

export class DkgParty implements ProtocolCore<DkgMessage> {
  readonly n: number;
  readonly t: number;
  readonly index: number;
  private readonly cfg: DkgConfig;
  private readonly phaseMs: number;
  private readonly coeffs: bigint[];
  private readonly dealers: DealerState[] = [];
  private readonly answered = new Set<number>();
  private phaseNow: DkgPhase = 'dealing';
  private resultValue: DkgResult | undefined;
  private failure: string | undefined;
  private out: { send: Outbound<DkgMessage>[]; timers: TimerOp[]; events: ProtocolEvent[] } = { send: [], timers: [], events: [] };

  constructor(config: DkgConfig) {
    const { participants, self, threshold: t } = config;
    const n = participants.length;
    if (n < 1 || n > MAX_INDEX) throw new ConfigError('participants', `must have 1..${MAX_INDEX} members, has ${n}`);
    if (new Set(participants).size !== n) throw new ConfigError('participants', 'duplicate member');
    const index = participants.indexOf(self) + 1;
    if (index === 0) throw new ConfigError('self', `${self} is not a participant`);
    if (!Number.isSafeInteger(t) || t < 0 || 2 * t + 1 > n) {
      throw new ConfigError('threshold', `need 0 ≤ t and n ≥ 2t+1 (GJKR honest majority); t=${t}, n=${n}`);
    }
    const phaseMs = config.phaseMs ?? 5000;
    if (!(phaseMs > 0)) throw new ConfigError('phaseMs', 'must be positive');
    if (config.session.length === 0 || config.session.length > 256) throw new ConfigError('session', 'must be 1..256 characters');
    this.cfg = config;
    this.n = n;
    this.t = t;
    this.index = index;
    this.phaseMs = phaseMs;
    for (let j = 0; j <= n; j++) this.dealers.push({ complaints: new Set(), justifications: new Map() });

    // GJKR Fig. 2 step 1(a): pick f_i of degree t, broadcast commitments, send s_ij to party j.
    this.coeffs = randomPolynomial(randomScalar(config.rng), t, config.rng);
    const commitments = commitPolynomial(this.coeffs);
    const session = config.session;
    this.onCommitments(index, { type: 'dkg/commitments', session, dealer: index, commitments });
    this.send('all', { type: 'dkg/commitments', session, dealer: index, commitments });
    for (let j = 1; j <= n; j++) {
      const s = evalPoly(this.coeffs, BigInt(j));
      if (j === index) this.dealer(index).share = s;
      else this.send(participants[j - 1]!, { type: 'dkg/share', session, dealer: index, recipient: j, share: scalarToBytes(s) });
    }
    this.setTimer('dealing');
  }

  get phase(): DkgPhase {
    return this.phaseNow;
  }

  /** The outcome once the phase is 'done'. */
  result(): DkgResult | undefined {
    return this.resultValue;
  }

  step(input: Input<DkgMessage>): void {
    if (input.type === 'timeout') {
      if (input.timer === this.timerId(this.phaseNow)) this.endPhase();
      return;
    }
    if (input.type !== 'message') return;
    const from = this.cfg.participants.indexOf(input.from) + 1;
    if (from === 0) return this.misbehaviour(input.from, 'unknown-sender', 'not a DKG participant');
    try {
      this.onMessage(from, input.from, input.msg);
    } catch (err) {
      // A well-typed but nonsensical message (possible when a caller skips dkgCodec) must never
      // crash an honest party.
      this.misbehaviour(input.from, 'malformed', (err as Error).message);
    }
  }

  private onMessage(from: number, peer: NodeId, msg: DkgMessage): void {
    const input = { from: peer };
    if (msg.session !== this.cfg.session) return this.misbehaviour(input.from, 'stale', `session ${String(msg.session)}`);
    switch (msg.type) {
      case 'dkg/commitments':
        if (msg.dealer !== from) return this.misbehaviour(input.from, 'protocol-violation', 'commitments for another dealer');
        if (this.phaseNow !== 'dealing') return this.misbehaviour(input.from, 'stale', 'commitments after the dealing deadline');
        return this.onCommitments(from, msg);
      case 'dkg/share':
        if (msg.dealer !== from || msg.recipient !== this.index) return this.misbehaviour(input.from, 'protocol-violation', 'share with wrong dealer or recipient');
        if (this.phaseNow !== 'dealing') return this.misbehaviour(input.from, 'stale', 'share after the dealing deadline');
        return this.onShare(from, msg.share, input.from);
      case 'dkg/complaint':
        if (msg.complainer !== from) return this.misbehaviour(input.from, 'protocol-violation', 'complaint in another party\'s name');
        if (this.phaseNow !== 'dealing' && this.phaseNow !== 'complaining') return this.misbehaviour(input.from, 'stale', 'complaint after the deadline');
        return this.onComplaint(msg.complainer, msg.dealer);
      case 'dkg/justification':
        if (msg.dealer !== from) return this.misbehaviour(input.from, 'protocol-violation', 'justification for another dealer');
        if (this.phaseNow === 'done' || this.phaseNow === 'failed') return this.misbehaviour(input.from, 'stale', 'justification after the deadline');
        return this.onJustification(from, msg.complainer, msg.share, input.from);
      default:
        return this.misbehaviour(input.from, 'malformed', 'unknown message type');
    }
  }

  /**
   * Ends the current phase now, exactly as if its timer had fired. For drivers that keep their own
   * schedule (a simulator, a block-height deadline) instead of arming `ready().timers`.
   */
  tick(): void {
    this.step({ type: 'timeout', timer: this.timerId(this.phaseNow) });
  }

  hasReady(): boolean {
    return this.out.send.length > 0 || this.out.timers.length > 0 || this.out.events.length > 0;
  }

  ready(): Ready<DkgMessage> {
    const r = this.out;
    this.out = { send: [], timers: [], events: [] };
    return { send: r.send, timers: r.timers, events: r.events, commit: [] };
  }

  status(): CoreStatus {
    return {
      protocol: 'dkg',
      node: this.cfg.self,
      view: 0n,
      committedHeight: this.resultValue ? 1n : 0n,
      role: this.phaseNow,
      detail: this.failure ? { failure: this.failure } : {},
    };
  }

  // --- handlers -------------------------------------------------------------------------------

  private dealer(j: number): DealerState {
    return this.dealers[j]!;
  }

  private onCommitments(j: number, msg: Extract<DkgMessage, { type: 'dkg/commitments' }>): void {
    const d = this.dealer(j);
    if (d.commitments !== undefined) return; // reliable broadcast delivers one; keep the first
    d.commitments = msg.commitments;
    try {
      if (msg.commitments.length !== this.t + 1) throw new Error(`expected ${this.t + 1} commitments`);
      d.points = decodeCommitments(msg.commitments);
    } catch (err) {
      d.malformed = true;
      this.misbehaviour(this.cfg.participants[j - 1]!, 'malformed', `commitments: ${(err as Error).message}`);
    }
  }

  private onShare(j: number, bytes: Uint8Array, peer: NodeId): void {
    const d = this.dealer(j);
    if (d.share !== undefined) return;
    try {
      d.share = scalarFromBytes(bytes);
    } catch {
      this.misbehaviour(peer, 'malformed', 'share is not a canonical scalar');
    }
  }

  private onComplaint(complainer: number, j: number): void {
    if (!Number.isSafeInteger(j) || j < 1 || j > this.n) throw new Error('complaint against an unknown dealer');
    const d = this.dealer(j);
    d.complaints.add(complainer);
    // GJKR Fig. 2 step 1(c): a dealer answers each complaint by revealing the disputed share.
    if (j === this.index && !this.answered.has(complainer)) {
      this.answered.add(complainer);
      const s = evalPoly(this.coeffs, BigInt(complainer));
      d.justifications.set(complainer, s);
      this.send('all', { type: 'dkg/justification', session: this.cfg.session, dealer: this.index, complainer, share: scalarToBytes(s) });
    }
  }

  private onJustification(j: number, complainer: number, bytes: Uint8Array, peer: NodeId): void {
    if (!Number.isSafeInteger(complainer) || complainer < 1 || complainer > this.n) return this.misbehaviour(peer, 'malformed', 'justification for an unknown complainer');
    const d = this.dealer(j);
    if (d.justifications.has(complainer)) return;
    let s: bigint;
    try {
      s = scalarFromBytes(bytes);
    } catch {
      s = -1n; // recorded as a bad justification: it cannot verify
    }
    d.justifications.set(complainer, s);
  }

  private endPhase(): void {
    switch (this.phaseNow) {
      case 'dealing':
        return this.endDealing();
      case 'complaining':
        this.phaseNow = 'justifying';
        return this.setTimer('justifying');
      case 'justifying':
        return this.finish();
      default:
        return;
    }
  }

  /** GJKR Fig. 2 step 1(b): check every share received; complain about missing or bad ones. */
  private endDealing(): void {
    for (let j = 1; j <= this.n; j++) {
      if (j === this.index) continue;
      const d = this.dealer(j);
      if (d.commitments === undefined || d.malformed) continue; // disqualified by everyone anyway
      const ok = d.share !== undefined && verifySharePoints(d.points!, { index: this.index, value: d.share });
      if (!ok) {
        d.complaints.add(this.index);
        this.send('all', { type: 'dkg/complaint', session: this.cfg.session, complainer: this.index, dealer: j });
      }
    }
    this.phaseNow = 'complaining';
    this.setTimer('complaining');
  }

  /** GJKR Fig. 2 steps 1(d), 2 and 4: qualify dealers, sum shares and commitments. */
  private finish(): void {
    const qualified: number[] = [];
    const disqualified: { dealer: number; reason: DisqualifyReason }[] = [];
    for (let j = 1; j <= this.n; j++) {
      const reason = this.disqualify(j);
      if (reason) {
        disqualified.push({ dealer: j, reason });
        this.misbehaviour(this.cfg.participants[j - 1]!, 'protocol-violation', `disqualified dealer: ${reason}`);
      } else qualified.push(j);
    }
    let x = 0n;
    const sum: G1Point[] = new Array<G1Point>(this.t + 1).fill(G1.ZERO);
    for (const j of qualified) {
      const d = this.dealer(j);
      // Our complaint was answered with a valid share: that share replaces the one we had.
      const s = d.complaints.has(this.index) ? d.justifications.get(this.index)! : d.share!;
      x = Fr.add(x, s);
      d.points!.forEach((p, k) => {
        sum[k] = sum[k]!.add(p);
      });
    }
    if (qualified.length === 0 || sum[0]!.is0() || x === 0n) return this.fail('no usable qualified dealers');
    const publicKeyShares: Uint8Array[] = [];
    for (let m = 1; m <= this.n; m++) publicKeyShares.push(encodeG1(evalCommitments(sum, m)));
    // Our own share must match the key share everyone else computes for us.
    if (!G1.BASE.multiply(x).equals(evalCommitments(sum, this.index))) return this.fail('own share does not match the joint commitments');
    this.resultValue = {
      publicKey: { threshold: this.t, groupPublicKey: encodeG1(sum[0]!), publicKeyShares },
      secretShare: { index: this.index, value: x },
      qualified,
      disqualified,
    };
    this.phaseNow = 'done';
  }

  private disqualify(j: number): DisqualifyReason | undefined {
    const d = this.dealer(j);
    if (d.commitments === undefined) return 'no-commitments';
    if (d.malformed || d.points === undefined) return 'malformed-commitments';
    // More than t complaints: at least one came from an honest party, so the dealer cheated.
    if (d.complaints.size > this.t) return 'too-many-complaints';
    for (const c of d.complaints) {
      const s = d.justifications.get(c);
      if (s === undefined) return 'unanswered-complaint';
      if (s < 0n || !verifySharePoints(d.points, { index: c, value: s })) return 'bad-justification';
    }
    // Our own share from a dealer we did not complain about was verified at the end of dealing.
    return undefined;
  }

  private fail(why: string): void {
    this.failure = why;
    this.phaseNow = 'failed';
  }

  private timerId(phase: DkgPhase): string {
    return `dkg/${this.cfg.session}/${phase}`;
  }

  private setTimer(phase: DkgPhase): void {
    this.out.timers.push({ op: 'set', id: this.timerId(phase), ms: this.phaseMs });
  }

  private send(to: NodeId | 'all', msg: DkgMessage): void {
    this.out.send.push({ to, msg });
  }

  private misbehaviour(peer: NodeId, kind: 'malformed' | 'stale' | 'protocol-violation' | 'unknown-sender', detail: string): void {
    this.out.events.push({ type: 'misbehaviour', peer, kind, detail });
  }
}

// --- wire format ------------------------------------------------------------------------------

const MAX_SESSION = 256;

function toValue(msg: DkgMessage): Value {
  switch (msg.type) {
    case 'dkg/commitments':
      return { type: msg.type, session: msg.session, dealer: msg.dealer, commitments: [...msg.commitments] };
    case 'dkg/share':
      return { type: msg.type, session: msg.session, dealer: msg.dealer, recipient: msg.recipient, share: msg.share };
    case 'dkg/complaint':
      return { type: msg.type, session: msg.session, complainer: msg.complainer, dealer: msg.dealer };
    case 'dkg/justification':
      return { type: msg.type, session: msg.session, dealer: msg.dealer, complainer: msg.complainer, share: msg.share };
  }
}

/** Canonical CBOR for DKG messages; `decode` throws DecodeError naming the bad field. */
export const dkgCodec: MessageCodec<DkgMessage> = {
  encode: (msg) => encode(toValue(msg)),
  decode(bytes) {
    const v = readMap(decode(bytes, { maxBytes: 4 * 1024 * 1024, maxDepth: 4 }), 'dkg');
    const type = readString(v['type'], 'dkg.type', 32);
    const session = readString(v['session'], 'dkg.session', MAX_SESSION);
    const idx = (k: string): number => {
      const i = readUint(v[k], `dkg.${k}`, MAX_INDEX);
      if (i < 1) throw new DecodeError(`dkg.${k}: party indices start at 1`);
      return i;
    };
    switch (type) {
      case 'dkg/commitments': {
        readMap(v, 'dkg', ['type', 'session', 'dealer', 'commitments']);
        const cs = readArray(v['commitments'], 'dkg.commitments', MAX_INDEX).map((c, k) => readBytes(c, `dkg.commitments[${k}]`, { exact: PUBLIC_KEY_BYTES }));
        return { type, session, dealer: idx('dealer'), commitments: cs };
      }
      case 'dkg/share':
        readMap(v, 'dkg', ['type', 'session', 'dealer', 'recipient', 'share']);
        return { type, session, dealer: idx('dealer'), recipient: idx('recipient'), share: readBytes(v['share'], 'dkg.share', { exact: 32 }) };
      case 'dkg/complaint':
        readMap(v, 'dkg', ['type', 'session', 'complainer', 'dealer']);
        return { type, session, complainer: idx('complainer'), dealer: idx('dealer') };
      case 'dkg/justification':
        readMap(v, 'dkg', ['type', 'session', 'dealer', 'complainer', 'share']);
        return { type, session, dealer: idx('dealer'), complainer: idx('complainer'), share: readBytes(v['share'], 'dkg.share', { exact: 32 }) };
      default:
        throw new DecodeError(`dkg.type: unknown message type "${type}"`);
    }
  },
};
