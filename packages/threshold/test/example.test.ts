// The README example, run as written (so it cannot rot).
import { expect, it } from 'vitest';
import {
  selectBackend, trustedDealerKeys, signShare, combineSignatures, verifyThresholdSignature,
  coinShare, combineCoin, secureRng, DkgParty, setBackend, nobleBackend,
} from '../src/index.js';

it('README example', async () => {
  await selectBackend();                                  // blst if it loads, noble otherwise
  const { publicKey, shares } = trustedDealerKeys(2, 5, secureRng()); // or run DkgParty (below)
  const msg = new TextEncoder().encode('commit block 42');

  const sigShares = shares.slice(1, 4).map((s) => signShare(s, msg));   // any 3 of 5 parties
  const { signature, invalid } = combineSignatures(publicKey, msg, sigShares);
  expect(verifyThresholdSignature(publicKey, msg, signature)).toBe(true);
  expect(invalid).toEqual([]);

  const coin = combineCoin(publicKey, 'aba/epoch-7', 3n, shares.slice(0, 3).map((s) => coinShare(s, 'aba/epoch-7', 3n)));
  expect([0, 1]).toContain(coin.bit);
  setBackend(nobleBackend);
});

it('README DKG example, driven with tick()', () => {
  const ids = ['a', 'b', 'c'];
  const parties = ids.map((me) => new DkgParty({ session: 'epoch-7', participants: ids, self: me, threshold: 1, rng: secureRng() }));
  const deliver = () => {
    for (const [i, p] of parties.entries()) {
      for (const o of p.ready().send) {
        for (const [j, q] of parties.entries()) if (j !== i && (o.to === 'all' || o.to === ids[j])) q.step({ type: 'message', from: ids[i]!, msg: o.msg });
      }
    }
  };
  for (let phase = 0; phase < 3; phase++) {
    deliver();
    deliver(); // complaints answered by justifications within the same phase
    for (const p of parties) p.tick();
  }
  const keys = parties.map((p) => p.result()?.publicKey.groupPublicKey);
  expect(keys[0]).toBeDefined();
  expect(keys[1]).toEqual(keys[0]);
  expect(keys[2]).toEqual(keys[0]);
});
