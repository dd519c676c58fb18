/**
 * In-process network for DKG tests: delivers every party's outputs (broadcasts to all others,
 * point-to-point messages to their target) until nothing moves, then fires the current phase's
 * deadline at every party — the synchronous model the DKG assumes. Malicious parties run the
 * honest code, and an adversary rewrites or drops what they send.
 */
import { DkgParty, dkgCodec, seededRng, scalarToBytes } from '../src/index.js';
import type { DkgMessage } from '../src/index.js';
import type { NodeId } from '@phalanx/interface';

export type Behaviour =
  | 'honest'
  | 'silent' // sends nothing at all
  | 'bad-shares' // corrupts the share of one honest party, then justifies correctly
  | 'bad-shares-bad-justification' // corrupts shares and the justifications
  | 'bad-shares-no-justification' // corrupts shares and never answers complaints
  | 'inconsistent-commitments' // broadcasts commitments to another polynomial
  | 'false-complainer'; // deals honestly but complains against every honest dealer

export interface RunResult {
  readonly parties: DkgParty[];
  readonly honest: number[];
  readonly ids: NodeId[];
}

const corrupt = (share: Uint8Array): Uint8Array => {
  const s = Uint8Array.from(share);
  s[31] = s[31]! ^ 1;
  // Keep it a canonical scalar (top byte < 0x73) so the fault is "wrong share", not "malformed".
  s[0] = s[0]! & 0x3f;
  return s;
};

export interface RunOptions {
  /** Lose these point-to-point shares in the network: [dealer, recipient] pairs. */
  readonly lostShares?: readonly (readonly [number, number])[];
}

export function runDkg(n: number, t: number, behaviours: Behaviour[], seed: string, wire = true, opts: RunOptions = {}): RunResult {
  const ids = Array.from({ length: n }, (_, i) => `p${i + 1}`);
  const parties = ids.map(
    (self, i) => new DkgParty({ session: 'test', participants: ids, self, threshold: t, rng: seededRng(`${seed}/${i}`), phaseMs: 1000 }),
  );
  const honest = behaviours.map((b, i) => (b === 'honest' ? i + 1 : 0)).filter((x) => x > 0);
  const other = seededRng(`${seed}/adversary`);
  const fakeCommitments = new DkgParty({ session: 'test', participants: ids, self: ids[0]!, threshold: t, rng: other })
    .ready()
    .send.map((o) => o.msg)
    .find((m) => m.type === 'dkg/commitments')!;

  const rewrite = (sender: number, to: NodeId | 'all', msg: DkgMessage): DkgMessage[] => {
    const b = behaviours[sender - 1]!;
    // One honest victim: one complaint (≤ t), so only the justification decides the dealer's fate.
    const victim = (recipient: number) => recipient === honest[0];
    switch (b) {
      case 'honest':
        return [msg];
      case 'silent':
        return [];
      case 'inconsistent-commitments':
        return msg.type === 'dkg/commitments' && fakeCommitments.type === 'dkg/commitments'
          ? [{ ...msg, commitments: fakeCommitments.commitments }]
          : [msg];
      case 'false-complainer':
        if (msg.type === 'dkg/commitments') {
          return [msg, ...honest.map((h): DkgMessage => ({ type: 'dkg/complaint', session: 'test', complainer: sender, dealer: h }))];
        }
        return [msg];
      default:
        if (msg.type === 'dkg/share' && victim(msg.recipient)) return [{ ...msg, share: corrupt(msg.share) }];
        if (msg.type === 'dkg/justification') {
          if (b === 'bad-shares-no-justification') return [];
          if (b === 'bad-shares-bad-justification') return [{ ...msg, share: corrupt(msg.share) }];
        }
        return [msg];
    }
  };

  const pump = () => {
    for (let moved = true; moved; ) {
      moved = false;
      parties.forEach((p, i) => {
        if (!p.hasReady()) return;
        const r = p.ready();
        for (const o of r.send) {
          for (const msg of rewrite(i + 1, o.to, o.msg)) {
            if (msg.type === 'dkg/share' && opts.lostShares?.some(([d, r]) => d === msg.dealer && r === msg.recipient)) continue;
            // Through the wire codec, as a real transport would carry it.
            const delivered = wire ? dkgCodec.decode(dkgCodec.encode(msg)) : msg;
            const targets = o.to === 'all' ? ids.filter((id) => id !== ids[i]) : [o.to];
            for (const to of targets) parties[ids.indexOf(to)]!.step({ type: 'message', from: ids[i]!, msg: delivered });
            moved = true;
          }
        }
      });
    }
  };
  for (const phase of ['dealing', 'complaining', 'justifying']) {
    pump();
    for (const p of parties) p.step({ type: 'timeout', timer: `dkg/test/${phase}` });
  }
  pump();
  return { parties, honest, ids };
}

export { scalarToBytes };
