import { describe, it, expect, afterEach, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record';
import { multiaddr } from '@multiformats/multiaddr';
import type { Libp2p } from 'libp2p';
import type { Stream, StreamCloseEvent } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { waitFor } from '@phalanx/compliance';
import { FrameReader, Libp2pClientEndpoint, Libp2pTransport, MAX_RECORD_ADDRS, MAX_RECORD_BYTES, UNKNOWN, encodeFrames, privateKeyFromSeed, protocolIds } from '../src/index.js';
import type { PeerConfig } from '../src/index.js';
import { freePort, identities, rawNode } from './helpers.js';
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

/** A TCP port that accepts connections and never answers (a firewall that blackholes, a hung host). */
async function silentServer(): Promise<{ addr: string; accepted: () => number; close: () => Promise<void> }> {
  const port = await freePort();
  const sockets: net.Socket[] = [];
  const srv = net.createServer((sock) => void sockets.push(sock));
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', () => resolve()));
  return {
    addr: `/ip4/127.0.0.1/tcp/${port}`,
    accepted: () => sockets.length,
    close: () => {
      for (const sock of sockets) sock.destroy();
      return new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

/**
 * Opens the peer-record protocol from `node` to `at` and reads to the end: the frames it got, and
 * whether the stream ended in a reset (refused, or aborted by the replica) rather than closed by
 * both sides. A reader closes its side at once, as `Libp2pClientEndpoint` does (the replica's end
 * of the answer may already be in when the dial resolves); with `write`, it sends that instead and
 * keeps its side open.
 */
async function ask(node: Libp2p, at: Multiaddr, write?: Uint8Array): Promise<{ frames: Uint8Array[]; reset: boolean }> {
  let stream: Stream;
  try {
    stream = await node.dialProtocol(at, peersProto, { signal: AbortSignal.timeout(5_000), negotiateFully: true });
  } catch {
    return { frames: [], reset: true };
  }
  if (stream.status !== 'open') return { frames: [], reset: stream.status !== 'closed' };
  const frames: Uint8Array[] = [];
  const reader = new FrameReader(MAX_RECORD_BYTES, (f) => frames.push(f.slice()), () => undefined);
  const closed = new Promise<StreamCloseEvent>((resolve) => stream.addEventListener('close', resolve, { once: true }));
  stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
  if (write) stream.send(write);
  else void stream.close().catch(() => undefined);
  return { frames, reset: (await closed).error !== undefined };
}

describe('peer discovery from a bootstrap list', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function run(
    ids: readonly TestIdentity[],
    self: string,
    knows: readonly string[],
    clients: ReadonlyArray<{ id: string; publicKey: Uint8Array }> = [],
    openClientAccess = false,
  ): Promise<{ t: Libp2pTransport; got: string[] }> {
    const me = ids.find((v) => v.id === self)!;
    const t = new Libp2pTransport({ self, seed: me.seed, listen: me.addrs, validators: seenBy(ids, knows), clients, openClientAccess, reconnect: fastReconnect });
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
    await relay([Uint8Array.of(1, 2, 3), r1AsSignedByR2, stranger]);
    await relay([tooMany]);
    await waitFor(() => (victim.stats().dropped['r2']?.malformed ?? 0) >= 3, 'garbage, misattributed and over-long records counted');
    expect(victim.stats().dropped['r2']?.['unknown-peer']).toBe(1); // the stranger's record
    // A badly signed record ends its stream (honest relays pass on only what they verified).
    await relay([tampered, good]);
    await waitFor(() => victim.stats().dropped['r2']?.malformed === 4, 'the tampered record counted');
    // So does an oversized frame: the good record behind it is never read.
    await relay([new Uint8Array(MAX_RECORD_BYTES + 1), good]);
    await waitFor(() => victim.stats().dropped['r2']?.oversized === 1, 'the oversized record counted');
    await new Promise((r) => setTimeout(r, 1000));
    expect(victim.connectedPeers()).not.toContain('r1');
    expect(victim.stats().dropped['r2']?.malformed).toBe(4);

    await relay([good]);
    await waitFor(() => victim.connectedPeers().includes('r1'), 'r0 dials r1 at the address r1 signed');
    expect(Object.keys(victim.stats().dropped).filter((k) => k !== 'r2')).toEqual([]);
    expect(UNKNOWN in victim.stats().dropped).toBe(false);

    // At most one record per validator in one stream: the fourth of eight frames is one too many
    // and ends the stream, before any of the three queued ahead of it is read (uncapped, each of
    // the eight would count as undecodable).
    const before = victim.stats().dropped['r2']?.malformed ?? 0;
    await relay(Array.from({ length: 8 }, () => Uint8Array.of(7)));
    await waitFor(() => (victim.stats().dropped['r2']?.malformed ?? 0) >= before + 1, 'the cap');
    await new Promise((r) => setTimeout(r, 300));
    expect(victim.stats().dropped['r2']?.malformed).toBe(before + 1);

    // Each stream costs the reader signature checks: a validator gets a burst of 8, then 2 a second.
    for (let k = 0; k < 24; k++) await relay([good]).catch(() => undefined);
    await waitFor(() => (victim.stats().dropped['r2']?.['rate-limited'] ?? 0) >= 1, 'record streams past the burst refused');
  });

  it('spends at most about two signature checks per validator per 10 s, and takes a held-back record later', async () => {
    const ids = await identities(['r0', 'r1', 'r2', 'r3']);
    const [, i1, i2, i3] = ids as [TestIdentity, TestIdentity, TestIdentity, TestIdentity];
    const silent = await silentServer();
    cleanup.push(silent.close);
    // Counts every check in this process: r1's transport checks nothing until r0 links to it.
    const checks = vi.spyOn(RecordEnvelope.prototype, 'validate');
    cleanup.push(async () => checks.mockRestore());
    const { t: victim } = await run(ids, 'r0', []);
    await run(ids, 'r1', []);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    const relay = async (records: Uint8Array[]): Promise<void> => {
      const st = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
      st.send(encodeFrames(records));
      await st.close();
    };
    // A genuine but stale record of r1, at an address that swallows connections: taken (1 check).
    const stale = await signedRecord(i1.seed, [silent.addr], 100n);
    await relay([stale]);
    await waitFor(() => silent.accepted() > 0, 'r0 dials the stale address');
    // Replays cost nothing; a badly signed record costs one check and ends its stream, so the
    // genuine record of r3 behind it is never checked.
    await relay([stale]);
    await relay([stale]);
    const forged = (await signedRecord(i1.seed, i1.addrs, 900n)).slice();
    forged[forged.length - 1]! ^= 1;
    await relay([forged, await signedRecord(i3.seed, ['/ip4/127.0.0.1/tcp/1'])]);
    await waitFor(() => victim.stats().dropped['r2']?.malformed === 1, 'the forged record counted');
    // r1's genuine new record, within 10 s of the stale one: checked (1) and held back; a newer
    // one while it waits is not even checked.
    await relay([await signedRecord(i1.seed, i1.addrs, 200n)]);
    await relay([await signedRecord(i1.seed, [silent.addr], 300n)]);
    await new Promise((r) => setTimeout(r, 500));
    expect(checks.mock.calls.length).toBe(3);
    expect(victim.connectedPeers()).not.toContain('r1');
    // The held-back record is taken when the 10 s are up: r0 links to r1 at its real address.
    await waitFor(() => victim.connectedPeers().includes('r1'), 'r0 takes r1\'s held-back record', 15_000);
  });

  it('survives a genuine record whose address only looks like a peer id (/dns4/p2p/…)', async () => {
    const ids = await identities(['r0', 'r1', 'r2']);
    const [, , i2] = ids as [TestIdentity, TestIdentity, TestIdentity];
    const { t: victim } = await run(ids, 'r0', []);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    const st = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
    st.send(encodeFrames([await signedRecord(i2.seed, ['/dns4/p2p/tcp/1', '/dns4/x/tcp/2/p2p/12D3KooWRCNGcnGxZohAeeSYW4HdDtDDuYYAGvxz7ez7Qjob3Va9'])]));
    await st.close();
    // Taken (no drop counted), dialled and failed; an unhandled rejection would fail this run.
    await new Promise((r) => setTimeout(r, 1500));
    expect(victim.stats().dropped).toEqual({});
    // An address that decodes but does not survive a round trip through text (a host name with a
    // slash) could not be dialled: the record is refused whole.
    const key = await privateKeyFromSeed(i2.seed);
    const odd = multiaddr([
      { code: 54, name: 'dns4', value: 'x/bogus' },
      { code: 6, name: 'tcp', value: '1' },
    ]);
    const bad = (await RecordEnvelope.seal(new PeerRecord({ peerId: peerIdFromPrivateKey(key), multiaddrs: [odd] }), key)).marshal();
    const st2 = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
    st2.send(encodeFrames([bad]));
    await st2.close();
    await waitFor(() => victim.stats().dropped['r2']?.malformed === 1, 'the record with an unusable address refused');
  });

  it('refuses a configured address that is not a multiaddr or names another peer', async () => {
    const ids = await identities(['r0', 'r1', 'r2']);
    const [i0, i1, i2] = ids as [TestIdentity, TestIdentity, TestIdentity];
    const r2Id = peerIdFromPrivateKey(await privateKeyFromSeed(i2.seed)).toString();
    const withR1At = (addr: string): PeerConfig[] => seenBy(ids, []).map((v) => (v.id === 'r1' ? { ...v, addrs: [addr] } : v));
    const make = (addr: string): Libp2pTransport => new Libp2pTransport({ self: 'r0', seed: i0.seed, listen: i0.addrs, validators: withR1At(addr) });
    expect(() => make('not/a/multiaddr')).toThrow(/r1\.addrs\[0\].*not a multiaddr/);
    expect(() => make(`${i1.addrs[0]!}/p2p/${r2Id}`)).toThrow(/r1\.addrs\[0\].*names peer/);
    const r1Id = peerIdFromPrivateKey(await privateKeyFromSeed(i1.seed)).toString();
    expect(() => make(`${i1.addrs[0]!}/p2p/${r1Id}`)).not.toThrow();
    // The addresses a validator announces are checked up front too.
    const announcing = (announce: string[]): Libp2pTransport =>
      new Libp2pTransport({ self: 'r0', seed: i0.seed, listen: i0.addrs, validators: seenBy(ids, []), announce });
    expect(() => announcing(['nonsense'])).toThrow(/announce\[0\].*not a multiaddr/);
    expect(() => announcing(Array.from({ length: MAX_RECORD_ADDRS + 1 }, (_, k) => `/ip4/10.0.0.${k + 1}/tcp/1`))).toThrow(/at most 16/);
    expect(() => announcing(['/ip4/10.0.0.1/tcp/1'])).not.toThrow();
  });

  it('tells a client where the replicas are, and nothing a replica forged', async () => {
    const all = await identities(['r0', 'r1', 'r2', 'r3', 'c0', 'c1']);
    const ids = all.slice(0, 4);
    const [i0, i1] = ids as [TestIdentity, TestIdentity];
    const [c0, c1] = all.slice(4) as [TestIdentity, TestIdentity];
    const clients = [c0, c1].map((c) => ({ id: c.id, publicKey: c.publicKey }));
    const silent = await silentServer();
    cleanup.push(silent.close);
    const replicas = new Map<string, Libp2pTransport>();
    for (const id of ['r0', 'r1', 'r2', 'r3']) replicas.set(id, (await run(ids, id, ['r0', 'r1', 'r2', 'r3'], clients)).t);
    // Linked before the client asks, so r0 has the others' records to give (a later ask covers the rest).
    for (const t of replicas.values()) await waitFor(() => t.connectedPeers().length === 3, `${t.self} linked`);
    // c0 has r0's address right and the rest at an address that swallows connections.
    const stale = ids.map((v) => ({ id: v.id, publicKey: v.publicKey, addrs: v.id === 'r0' ? v.addrs : [silent.addr] }));
    const client = new Libp2pClientEndpoint({ self: 'c0', seed: c0.seed, replicas: stale, reconnect: fastReconnect });
    await client.start();
    cleanup.push(() => client.stop());
    await waitFor(() => client.connectedReplicas().length === 4, 'c0 linked to all four replicas', 20_000);

    // r1 moves to a new port while c0 is linked to the others: c0's dials to r1 fail, so it asks a
    // replica again, which by then has r1's new record (held back up to 10 s after its first).
    await replicas.get('r1')!.stop();
    const moved = `/ip4/127.0.0.1/tcp/${await freePort()}`;
    const r1again = new Libp2pTransport({
      self: 'r1',
      seed: i1.seed,
      listen: [moved],
      validators: ids.map((v) => ({ id: v.id, publicKey: v.publicKey, addrs: v.id === 'r1' ? [moved] : v.addrs })),
      clients,
      reconnect: fastReconnect,
    });
    await r1again.start();
    cleanup.push(() => r1again.stop());
    await waitFor(() => !client.connectedReplicas().includes('r1'), 'c0 to lose r1');
    await waitFor(() => client.connectedReplicas().length === 4, 'c0 linked to r1 at its new address', 30_000);

    // A replica that forges: r0's key on a bare node answers c1 with a tampered record of r1.
    const fake = await rawNode(i0.seed, ['/ip4/127.0.0.1/tcp/0']);
    cleanup.push(async () => fake.stop());
    await fake.handle(protocolIds().client, (stream) => stream.addEventListener('message', () => undefined));
    const tampered = (await signedRecord(i1.seed, i1.addrs)).slice();
    tampered[tampered.length - 1]! ^= 1;
    await fake.handle(peersProto, (stream) => {
      stream.send(encodeFrames([tampered]));
      void stream.close();
    });
    const fakeAt = fake.getMultiaddrs().map((m) => m.toString().split('/p2p/')[0]!);
    const c1View = ids.map((v) => ({ id: v.id, publicKey: v.publicKey, addrs: v.id === 'r0' ? fakeAt : [silent.addr] }));
    const other = new Libp2pClientEndpoint({ self: 'c1', seed: c1.seed, replicas: c1View, reconnect: fastReconnect });
    await other.start();
    cleanup.push(() => other.stop());
    await waitFor(() => other.stats().dropped['r0']?.malformed === 1, 'the tampered record counted');
    await new Promise((r) => setTimeout(r, 1000));
    expect(other.connectedReplicas()).toEqual(['r0']);
  }, 90_000);

  it('announces the interface addresses of a wildcard listen address, loopback left out', async (ctx) => {
    // libp2p leaves link-local addresses out of a wildcard's expansion.
    const external = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.')).map((i) => i.address));
    if (external.length === 0) ctx.skip(); // a host with loopback only announces loopback (every other test)
    const all = await identities(['r0', 'c0']);
    const [r0, c0] = all as [TestIdentity, TestIdentity];
    const replica = new Libp2pTransport({ self: 'r0', seed: r0.seed, listen: [`/ip4/0.0.0.0/tcp/${r0.port}`], validators: [{ id: 'r0', publicKey: r0.publicKey, addrs: [] }], clients: [{ id: 'c0', publicKey: c0.publicKey }] });
    await replica.start();
    cleanup.push(() => replica.stop());
    const client = await rawNode(c0.seed);
    cleanup.push(async () => client.stop());
    const peerId = peerIdFromPrivateKey(await privateKeyFromSeed(r0.seed));
    const stream = await client.dialProtocol(multiaddr(`/ip4/127.0.0.1/tcp/${r0.port}/p2p/${peerId.toString()}`), peersProto, { signal: AbortSignal.timeout(5_000), negotiateFully: true });
    const frames: Uint8Array[] = [];
    const reader = new FrameReader(MAX_RECORD_BYTES, (f) => frames.push(f.slice()), () => undefined);
    stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
    await waitFor(() => frames.length === 1, 'the replica\'s own record');
    await stream.close();
    const record = PeerRecord.createFromProtobuf(RecordEnvelope.createFromProtobuf(frames[0]!).payload);
    const announced = record.multiaddrs.map((a) => a.toString());
    // Interfaces may be many (at most MAX_RECORD_ADDRS are announced) and may change meanwhile:
    // what is announced must be some of them, and never loopback.
    expect(announced.length).toBeGreaterThan(0);
    expect(announced.length).toBeLessThanOrEqual(MAX_RECORD_ADDRS);
    expect(announced.filter((a) => a.startsWith('/ip4/127.'))).toEqual([]);
    for (const a of announced) expect(external.map((ip) => `/ip4/${ip}/tcp/${r0.port}`)).toContain(a);
  });

  it('aborts a validator\'s record stream that stays open past 10 s', async () => {
    const ids = await identities(['r0', 'r1']);
    const { t: replica } = await run(ids, 'r0', []);
    const hostile = await rawNode(ids[1]!.seed);
    cleanup.push(async () => hostile.stop());
    // Half a frame, then silence with the stream left open: it would hold an inbound stream slot.
    const stream = await hostile.dialProtocol(multiaddr(replica.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000), negotiateFully: true });
    const openedAt = Date.now();
    let closedAfter: number | undefined;
    stream.addEventListener('close', () => (closedAfter = Date.now() - openedAt));
    stream.send(Uint8Array.of(0x00, 0x00, 0x01));
    await waitFor(() => closedAfter !== undefined, 'the replica to abort the stream', 14_000);
    expect(closedAfter).toBeGreaterThanOrEqual(9_000);
  }, 20_000);

  it('ends a client\'s record stream on which the client writes', async () => {
    const all = await identities(['r0', 'r1', 'c0']);
    const ids = all.slice(0, 2);
    const c0 = all[2]!;
    const { t: replica } = await run(ids, 'r0', [], [{ id: 'c0', publicKey: c0.publicKey }]);
    const client = await rawNode(c0.seed);
    cleanup.push(async () => client.stop());
    const stream = await client.dialProtocol(multiaddr(replica.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000), negotiateFully: true });
    let closed = false;
    stream.addEventListener('close', () => (closed = true));
    // The answer arrives; the client keeps its side open and writes instead of closing it.
    stream.send(Uint8Array.of(1, 2, 3));
    await waitFor(() => closed, 'the replica to end the stream', 3_000);
  });

  it('redials at the configured addresses even after the peer store forgot them (it does after an hour)', async () => {
    const ids = await identities(['r0', 'r1']);
    const a = await run(ids, 'r0', ['r1']);
    const b = await run(ids, 'r1', ['r0']);
    await waitFor(() => a.t.connectedPeers().includes('r1') && b.t.connectedPeers().includes('r0'), 'linked');
    // Both forget each other's addresses (libp2p's MAX_ADDRESS_AGE), then the connection drops.
    const nodeOf = (t: Libp2pTransport): Libp2p => (t as unknown as { node: Libp2p }).node;
    const [pa, pb] = [nodeOf(a.t).peerId, nodeOf(b.t).peerId];
    await nodeOf(a.t).peerStore.delete(pb);
    await nodeOf(b.t).peerStore.delete(pa);
    await nodeOf(a.t).hangUp(pb);
    await waitFor(() => !a.t.connectedPeers().includes('r1'), 'the link to drop');
    await waitFor(() => a.t.connectedPeers().includes('r1') && b.t.connectedPeers().includes('r0'), 'linked again', 10_000);
  });

  it('a relayed stale record at a silent address does not cut a replica off from its configured one', async () => {
    const ids = await identities(['r0', 'r1', 'r2']);
    const [, i1, i2] = ids as [TestIdentity, TestIdentity, TestIdentity];
    const silent = await silentServer();
    cleanup.push(silent.close);
    // r0 has r1's right address from its config; r1 is down.
    const { t: victim } = await run(ids, 'r0', ['r1']);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    // A genuine record of r1 from an earlier life, at an address that now swallows connections.
    const stale = await signedRecord(i1.seed, [silent.addr], 1n);
    const s = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
    s.send(encodeFrames([stale]));
    await s.close();
    await waitFor(() => silent.accepted() > 0, 'r0 dials the learned address');
    // r1 comes up where the config says, knowing nobody's address: only r0's dial can link them.
    await run(ids, 'r1', []);
    await waitFor(() => victim.connectedPeers().includes('r1'), 'r0 still dials r1 at its configured address', 15_000);
  });

  it('keeps the newest record of each validator, and hands what it learned to a validator that links later', async () => {
    const ids = await identities(['r0', 'r1', 'r2', 'r3']);
    const [, i1, i2, i3] = ids as [TestIdentity, TestIdentity, TestIdentity, TestIdentity];
    const silent = await silentServer();
    cleanup.push(silent.close);
    // Nobody knows anybody's address. r2 relays two genuine records of r1, newest first.
    const { t: victim } = await run(ids, 'r0', []);
    await run(ids, 'r1', []);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    // The newest also names another peer's id in its address: the link must dial r1 there anyway.
    const r3Id = peerIdFromPrivateKey(await privateKeyFromSeed(i3.seed)).toString();
    const newest = await signedRecord(i1.seed, [`${i1.addrs[0]!}/p2p/${r3Id}`], 200n);
    const older = await signedRecord(i1.seed, [silent.addr], 100n);
    const s = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
    s.send(encodeFrames([newest, older]));
    await s.close();
    await waitFor(() => victim.connectedPeers().includes('r1'), 'r0 dials r1 at the newest record');
    // A still newer record, but within 10 s of the last one taken: held back (a validator that keeps
    // re-signing cannot keep the set pushing and verifying).
    const s2 = await hostile.dialProtocol(multiaddr(victim.listenAddrs()[0]!), peersProto, { signal: AbortSignal.timeout(5_000) });
    s2.send(encodeFrames([await signedRecord(i1.seed, [silent.addr], 300n)]));
    await s2.close();
    // Past the push (1 s): r3 links only now, so only the link-up hand-over can tell it of r1.
    await new Promise((r) => setTimeout(r, 1500));
    const late = await rawNode(i3.seed);
    cleanup.push(async () => late.stop());
    const heard: Uint8Array[] = [];
    await late.handle(protocolIds().consensus, (stream) => stream.addEventListener('message', () => undefined));
    await late.handle(peersProto, (stream) => {
      const reader = new FrameReader(MAX_RECORD_BYTES, (f) => heard.push(f.slice()), () => undefined);
      stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
    });
    await late.dial(multiaddr(victim.listenAddrs()[0]!));
    const seqOf = async (who: TestIdentity): Promise<bigint | undefined> => {
      const key = (await privateKeyFromSeed(who.seed)).publicKey.toString();
      for (const f of heard) {
        const env = RecordEnvelope.createFromProtobuf(f);
        if (env.publicKey.toString() === key) return PeerRecord.createFromProtobuf(env.payload).seqNumber;
      }
      return undefined;
    };
    await waitFor(() => heard.length >= 2, 'r0 hands r3 its records when their link opens');
    expect(await seqOf(i1)).toBe(200n);
    expect(await seqOf(ids[0]!)).toBeDefined(); // r0's own
    expect(silent.accepted()).toBe(0); // the older record's address was never dialled
  });

  /**
   * r0 admits any client (`openClientAccess`) and has learned r1's record, relayed by a hostile r2
   * (r0 dialling r1 shows it took it): what r0 tells a stranger, a peer neither a validator nor a
   * configured client, on the peer-record protocol.
   */
  async function openAccessReplica(): Promise<{ t: Libp2pTransport; r1: Libp2pTransport; at: Multiaddr; r1Record: Uint8Array; stranger: () => Promise<Libp2p> }> {
    const ids = await identities(['r0', 'r1', 'r2']);
    const [, i1, i2] = ids as [TestIdentity, TestIdentity, TestIdentity];
    const { t } = await run(ids, 'r0', [], [], true);
    const { t: r1 } = await run(ids, 'r1', []);
    const at = multiaddr(t.listenAddrs()[0]!);
    const hostile = await rawNode(i2.seed);
    cleanup.push(async () => hostile.stop());
    const r1Record = await signedRecord(i1.seed, i1.addrs);
    const s = await hostile.dialProtocol(at, peersProto, { signal: AbortSignal.timeout(5_000) });
    s.send(encodeFrames([r1Record]));
    await s.close();
    await waitFor(() => t.connectedPeers().includes('r1'), 'r0 takes r1\'s record and dials it');
    const stranger = async (): Promise<Libp2p> => {
      const node = await rawNode(new Uint8Array(randomBytes(32)));
      cleanup.push(async () => node.stop());
      return node;
    };
    return { t, r1, at, r1Record, stranger };
  }

  it('answers an open-access stranger on the peer-record protocol with its own record and those it learned', async () => {
    const { t, at, r1Record, stranger } = await openAccessReplica();
    const { frames, reset } = await ask(await stranger(), at);
    expect(reset).toBe(false);
    expect(frames).toHaveLength(2);
    const own = PeerRecord.createFromProtobuf(RecordEnvelope.createFromProtobuf(frames[0]!).payload);
    expect(own.peerId.toString()).toBe(t.peerId());
    expect(own.multiaddrs.map((a) => a.toString())).toEqual([t.listenAddrs()[0]!.split('/p2p/')[0]!]);
    expect(Uint8Array.from(frames[1]!)).toEqual(r1Record); // relayed as received
    expect(t.stats().dropped).toEqual({});
  });

  it('makes open-access strangers share one record-stream limiter: one spends it, another is refused', async () => {
    const { t, at, stranger } = await openAccessReplica();
    const [a, b] = [await stranger(), await stranger()];
    await b.dial(at); // connected up front, so its first ask follows a's refusal closely
    // a asks until refused: the limiter's burst (8), plus what refills meanwhile (2 a second).
    let answered = 0;
    for (let k = 0; k < 20; k++) {
      const r = await ask(a, at);
      if (r.reset) break;
      expect(r.frames).toHaveLength(2);
      answered++;
    }
    expect(answered).toBeGreaterThanOrEqual(8);
    expect(answered).toBeLessThan(20);
    // b never asked, yet is refused before a fresh limiter's burst of 8 would be spent.
    let bAnswered = 0;
    for (let k = 0; k < 7; k++) {
      const r = await ask(b, at);
      if (r.reset) break;
      bAnswered++;
    }
    expect(bAnswered).toBeLessThan(7);
    // Refusals are counted under the one name strangers share, never under their PeerIds.
    expect(Object.keys(t.stats().dropped)).toEqual([UNKNOWN]);
    expect(t.stats().dropped[UNKNOWN]?.['rate-limited']).toBe(2);
  });

  it('aborts the record stream of an open-access stranger that writes on it, and keeps serving', async () => {
    const { t, r1, at, stranger } = await openAccessReplica();
    const got: string[] = [];
    r1.onFrame((from, f) => got.push(`${from}:${new TextDecoder().decode(f)}`));
    const writer = await stranger();
    const startedAt = Date.now();
    const written = await ask(writer, at, Uint8Array.of(1, 2, 3));
    // At once, not when the 10-s deadline for a stream held open would end it.
    expect(written.reset).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    // The replica goes on: the same stranger and another one are answered, and its link carries frames.
    for (const node of [writer, await stranger()]) {
      const r = await ask(node, at);
      expect(r.reset).toBe(false);
      expect(r.frames).toHaveLength(2);
    }
    t.send('r1', new TextEncoder().encode('still here'));
    await waitFor(() => got.includes('r0:still here'), 'a frame from r0 to r1');
  }, 20_000);

  it('refuses a stranger at connection when open access is off, before any record protocol', async () => {
    const ids = await identities(['r0', 'r1']);
    const { t } = await run(ids, 'r0', []);
    const at = multiaddr(t.listenAddrs()[0]!);
    const stranger = await rawNode(new Uint8Array(randomBytes(32)));
    cleanup.push(async () => stranger.stop());
    const { frames, reset } = await ask(stranger, at);
    expect(reset).toBe(true);
    expect(frames).toEqual([]);
    // The gater closes the connection itself (the dialler may see it open for a moment); refusing
    // only the stream would leave it open.
    await waitFor(() => stranger.getConnections().length === 0, 'the connection closed by the replica');
    await new Promise((r) => setTimeout(r, 300));
    expect(stranger.getConnections()).toHaveLength(0);
    expect(t.stats().dropped).toEqual({ [UNKNOWN]: { 'unknown-peer': 1 } });
  });
});
