import { describe, it, expect, afterEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record';
import { multiaddr } from '@multiformats/multiaddr';
import { waitFor } from '@phalanx/compliance';
import { Libp2pTransport, MAX_RECORD_ADDRS, UNKNOWN, encodeFrames, privateKeyFromSeed, protocolIds } from '../src/index.js';
import type { PeerConfig } from '../src/index.js';
import { identities, rawNode } from './helpers.js';
import type { TestIdentity } from './helpers.js';

const peersProto = protocolIds().peers;
const fastReconnect = { initialMs: 20, maxMs: 200 };

/** The validator set as one member sees it: addresses only for the members named in `knows`. */
const seenBy = (ids: readonly TestIdentity[], knows: readonly string[]): PeerConfig[] =>
  ids.map((v) => ({ id: v.id, publicKey: v.publicKey, addrs: knows.includes(v.id) ? v.addrs : [] }));

async function signedRecord(seed: Uint8Array, addrs: readonly string[], seqNumber?: bigint): Promise<Uint8Array> {
  const key = await privateKeyFromSeed(seed);
  const record = new PeerRecord({ peerId: peerIdFromPrivateKey(key), multiaddrs: addrs.map((a) => multiaddr(a)), ...(seqNumber !== undefined ? { seqNumber } : {}) });
  return (await RecordEnvelope.seal(record, key)).marshal();
}

describe('peer discovery from a bootstrap list', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function run(ids: readonly TestIdentity[], self: string, knows: readonly string[]): Promise<{ t: Libp2pTransport; got: string[] }> {
    const me = ids.find((v) => v.id === self)!;
    const t = new Libp2pTransport({ self, seed: me.seed, listen: me.addrs, validators: seenBy(ids, knows), reconnect: fastReconnect });
    const got: string[] = [];
    t.onFrame((from, f) => got.push(`${from}:${new TextDecoder().decode(f)}`));
    await t.start();
    cleanup.push(() => t.stop());
    return { t, got };
  }

  it('finds the validators its bootstrap list leaves out through the ones it reaches', async () => {
    // A chain of bootstrap lists: r0 knows r1, r1 knows r2, r2 knows r3, r3 knows nobody. Every
    // pair must end up linked both ways, which only relayed records can do (r0 never hears of
    // r3's address from r3, nor r3 of r0's from r0).
    const ids = await identities(['r0', 'r1', 'r2', 'r3']);
    const nodes = [
      await run(ids, 'r3', []),
      await run(ids, 'r2', ['r3']),
      await run(ids, 'r1', ['r2']),
      await run(ids, 'r0', ['r1']),
    ];
    for (const { t } of nodes) {
      await waitFor(() => t.connectedPeers().length === 3, `${t.self} linked to all three peers`, 15_000);
    }
    const [r3, , , r0] = nodes;
    r0!.t.send('r3', new TextEncoder().encode('hello'));
    r3!.t.send('r0', new TextEncoder().encode('back'));
    await waitFor(() => r3!.got.includes('r0:hello') && r0!.got.includes('r3:back'), 'frames both ways between r0 and r3');
  });

  it('believes only records signed by the validator they name, and only a few per stream', async () => {
    const ids = await identities(['r0', 'r1', 'r2']);
    const [, i1, i2] = ids as [TestIdentity, TestIdentity, TestIdentity];
    // r0 knows nobody's address; r1 listens but knows nobody's either; r2 is a hostile validator
    // driving raw libp2p.
    const { t: victim } = await run(ids, 'r0', []);
    await run(ids, 'r1', []);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    const at = multiaddr(victim.listenAddrs()[0]!);
    const relay = async (records: Uint8Array[]): Promise<void> => {
      const s = await hostile.dialProtocol(at, peersProto, { signal: AbortSignal.timeout(5_000) });
      s.send(encodeFrames(records));
      await s.close();
    };
    const good = await signedRecord(i1.seed, i1.addrs);
    const tampered = good.slice();
    tampered[tampered.length - 1]! ^= 1; // last signature byte
    const r1AsSignedByR2 = await (async () => {
      // r2's key signing a record that names r1: the signer is not the named peer.
      const key = await privateKeyFromSeed(i2.seed);
      const record = new PeerRecord({ peerId: peerIdFromPrivateKey(await privateKeyFromSeed(i1.seed)), multiaddrs: i1.addrs.map((a) => multiaddr(a)) });
      return (await RecordEnvelope.seal(record, key)).marshal();
    })();
    const stranger = await signedRecord(new Uint8Array(randomBytes(32)), ['/ip4/127.0.0.1/tcp/1']);
    const tooMany = await signedRecord(
      i1.seed,
      Array.from({ length: MAX_RECORD_ADDRS + 1 }, (_, k) => `/ip4/127.0.0.${k + 1}/tcp/${i1.port}`),
    );
    await relay([Uint8Array.of(1, 2, 3), tampered, r1AsSignedByR2, stranger, tooMany]);

    await waitFor(() => (victim.stats().dropped['r2']?.malformed ?? 0) >= 3, 'garbage, the tampered and the over-long record counted');
    expect(victim.stats().dropped['r2']?.['unknown-peer']).toBe(1); // the stranger's record
    await new Promise((r) => setTimeout(r, 500));
    expect(victim.connectedPeers()).not.toContain('r1');

    await relay([good]);
    await waitFor(() => victim.connectedPeers().includes('r1'), 'r0 dials r1 at the address r1 signed');
    expect(Object.keys(victim.stats().dropped).filter((k) => k !== 'r2')).toEqual([]);
    expect(UNKNOWN in victim.stats().dropped).toBe(false);

    // At most two records per validator in one stream: the seventh of eight frames is one too many
    // and ends the stream (six undecodable frames, then the cap).
    const before = victim.stats().dropped['r2']?.malformed ?? 0;
    await relay(Array.from({ length: 8 }, () => Uint8Array.of(7)));
    await waitFor(() => (victim.stats().dropped['r2']?.malformed ?? 0) >= before + 7, 'six undecodable frames and the cap');
    await new Promise((r) => setTimeout(r, 200));
    expect(victim.stats().dropped['r2']?.malformed).toBe(before + 7);

    // Each stream costs the reader signature checks: a validator gets a burst of 8, then 2 a second.
    for (let k = 0; k < 10; k++) await relay([good]).catch(() => undefined);
    await waitFor(() => (victim.stats().dropped['r2']?.['rate-limited'] ?? 0) >= 1, 'record streams past the burst refused');
  });

  it('a relayed stale record does not displace a configured address', async () => {
    const ids = await identities(['r0', 'r1', 'r2']);
    const [, i1, i2] = ids as [TestIdentity, TestIdentity, TestIdentity];
    // r0 has r1's right address from its config; r1 is down.
    const { t: victim } = await run(ids, 'r0', ['r1']);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    // A genuine record of r1 from an earlier life, at an address it no longer has.
    const stale = await signedRecord(i1.seed, ['/ip4/127.0.0.1/tcp/9'], 1n);
    const s = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
    s.send(encodeFrames([stale]));
    await s.close();
    await new Promise((r) => setTimeout(r, 300));
    // r1 comes up where the config says, knowing nobody's address: only r0's dial can link them.
    await run(ids, 'r1', []);
    await waitFor(() => victim.connectedPeers().includes('r1'), 'r0 still dials r1 at its configured address', 10_000);
  });
});
