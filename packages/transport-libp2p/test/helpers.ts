import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { createLibp2p } from 'libp2p';
import type { Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { privateKeyFromSeed } from '../src/index.js';
import type { PeerConfig } from '../src/index.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestIdentity extends PeerConfig {
  readonly seed: Uint8Array;
  readonly port: number;
  readonly addrs: string[];
}

export async function identities(names: readonly string[]): Promise<TestIdentity[]> {
  const out: TestIdentity[] = [];
  for (const id of names) {
    const seed = new Uint8Array(randomBytes(32));
    const key = await privateKeyFromSeed(seed);
    const port = await freePort();
    out.push({ id, seed, port, publicKey: key.publicKey.raw, addrs: [`/ip4/127.0.0.1/tcp/${port}`] });
  }
  return out;
}

/** A bare libp2p node with the given identity, driven by hand (a hostile peer, or a stranger). */
export async function rawNode(seed: Uint8Array, listen: string[] = []): Promise<Libp2p> {
  return createLibp2p({
    privateKey: await privateKeyFromSeed(seed),
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
  });
}
