import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

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
