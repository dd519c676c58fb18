import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';
import { Solo, prePrepare, req } from './craft.js';
import { TIMER_RETRANSMIT } from '../src/index.js';
import type { PbftMessage } from '../src/index.js';

describe('PBFT normal case (§4.2)', () => {
  it('commits client requests in order on all replicas with offline-verifiable certificates', () => {
    const c = new Cluster({ n: 4 });
    for (let i = 0; i < 10; i++) c.request('r0');
    expect(c.runUntil(() => c.node('r0').app.applied.length === 10 && c.committedAll(c.node('r0').core.status().committedHeight))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
    for (const id of c.ids) expect(c.node(id).app.applied.map((r) => r.seq)).toEqual(c.node('r0').app.applied.map((r) => r.seq));
  });
});

describe('with real Ed25519 (@phalanx/crypto)', () => {
  it('commits, and every proof verifies offline with the crypto package verifier', async () => {
    const { generateKeyPair, signerFromSecret, createVerifier } = await import('@phalanx/crypto');
    const secrets = new Map<string, Uint8Array>();
    const keys = {
      verifier: createVerifier(),
      signer(id: string) {
        let s = secrets.get(id);
        if (!s) {
          s = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(id.charCodeAt(1)) }).secretKey;
          secrets.set(id, s);
        }
        return signerFromSecret(s);
      },
    };
    const c = new Cluster({ n: 4, keys, config: { checkpointInterval: 2 } });
    for (let i = 0; i < 6; i++) c.request('all');
    expect(c.runUntil(() => c.ids.every((id) => c.node(id).app.applied.length === 6))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
  });
});

describe('retransmission (loss recovery)', () => {
  const sentAfter = (s: Solo, from: number, type: PbftMessage['type']) =>
    s.out.slice(from).flatMap((r) => r.send.map((o) => o.msg)).filter((m) => m.type === type).length;

  it('re-sends a pre-prepare only once it went unanswered for a whole tick', () => {
    const r0 = new Solo('r0');
    r0.core.step({ type: 'request', request: req(1) });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1);
    let mark = r0.out.length;
    r0.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // the round may still be running
    r0.flush();
    expect(sentAfter(r0, mark, 'pre-prepare')).toBe(0);
    mark = r0.out.length;
    r0.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT }); // a whole tick without progress
    r0.flush();
    expect(sentAfter(r0, mark, 'pre-prepare')).toBe(1);
  });

  it('re-sends a backup prepare on the second tick, not the first', () => {
    const r1 = new Solo('r1').msg('r0', prePrepare('r0', 0n, 1n, [req(1)]));
    expect(r1.sent('prepare')).toHaveLength(1);
    let mark = r1.out.length;
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT });
    r1.flush();
    expect(sentAfter(r1, mark, 'prepare')).toBe(0);
    mark = r1.out.length;
    r1.core.step({ type: 'timeout', timer: TIMER_RETRANSMIT });
    r1.flush();
    expect(sentAfter(r1, mark, 'prepare')).toBe(1);
  });
});
