/**
 * The BFT client of a network, from its configuration and a client key file: a libp2p client
 * endpoint (the replicas admit it because its public key is in `clients`) under `@phalanx/runtime`'s
 * `Client`, which accepts a result once f+1 replicas sent the same one — so no single replica,
 * faulty or not, can make up an answer. `phalanx put/get/del --key` and `phalanx load` use it.
 */
import { readKeyFile, signerFromSecret } from '@phalanx/crypto';
import { bytesEqual, fromHex } from '@phalanx/codec';
import { ConfigError, KeyFileError } from '@phalanx/interface';
import { faultTolerance } from '@phalanx/quorum';
import { Client } from '@phalanx/runtime';
import { Libp2pClientEndpoint } from '@phalanx/transport-libp2p';
import { loadConfig } from './config.js';
import type { NetworkConfig } from './config.js';

export interface BftClientOptions {
  readonly config: string;
  readonly key: string;
  /** Requests in flight at once. Default 256. */
  readonly window?: number;
  /** Give up on a request after this long. Default 30 s. */
  readonly timeoutMs?: number;
}

export interface OpenBftClient {
  readonly client: Client;
  readonly config: NetworkConfig;
  readonly id: string;
  /** Matching replies a result needs (f+1). */
  readonly quorum: number;
  /**
   * Waits up to `ms` for connections to every replica (at most STRAGGLER_GRACE_MS once a quorum is
   * connected); resolves with how many are connected, or throws if fewer than `quorum` are (no
   * result could ever be accepted).
   */
  connected(ms: number): Promise<number>;
  close(): Promise<void>;
}

/** Longest wait for the remaining replicas once a quorum is connected (see `awaitReplicas`). */
export const STRAGGLER_GRACE_MS = 1000;

/**
 * Waits until all `total` replicas are connected, or up to `ms`; resolves with how many are, or
 * throws if fewer than `quorum`. Once a quorum is connected it waits at most `graceMs` more: a
 * replica that is down (f may be) would otherwise hold every command line for the whole `ms`.
 */
export async function awaitReplicas(count: () => number, total: number, quorum: number, ms: number, graceMs = STRAGGLER_GRACE_MS): Promise<number> {
  let deadline = Date.now() + ms;
  let graced = false;
  while (count() < total && Date.now() < deadline) {
    if (!graced && count() >= quorum) {
      graced = true;
      deadline = Math.min(deadline, Date.now() + graceMs);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const reachable = count();
  if (reachable < quorum) throw new Error(`only ${reachable} of ${total} replicas reachable; ${quorum} must answer`);
  return reachable;
}

export async function openBftClient(o: BftClientOptions): Promise<OpenBftClient> {
  const config = loadConfig(o.config);
  const window = o.window ?? 256;
  if (window > config.kv.sessionWindow) {
    // More in flight than the replicas keep results for: late commits of old ones would be refused.
    throw new ConfigError('--window', `${window} requests in flight exceed the network's kv.sessionWindow of ${config.kv.sessionWindow} in ${o.config}`);
  }
  const key = readKeyFile(o.key);
  if (key.scheme !== 'ed25519') throw new KeyFileError(o.key, `scheme ${key.scheme} cannot be a libp2p identity; clients use ed25519 keys`);
  const me = config.clients.find((c) => bytesEqual(fromHex(c.publicKey), key.publicKey));
  if (!me) throw new KeyFileError(o.key, `its public key is not among the clients in ${o.config} (keygen --clients writes client keys)`);
  const endpoint = new Libp2pClientEndpoint({
    self: me.id,
    seed: key.secretKey.subarray(1),
    network: config.chainId,
    replicas: config.nodes.map((n) => ({ id: n.id, publicKey: fromHex(n.publicKey), addrs: [n.address] })),
  });
  const replicas = config.nodes.map((n) => n.id);
  const quorum = Math.min(replicas.length, faultTolerance(replicas.length) + 1);
  const client = new Client({
    endpoint,
    replicas,
    quorum,
    maxInFlight: window,
    timeoutMs: o.timeoutMs ?? 30_000,
    // Sequence numbers must rise across runs of the same client key (replicas answer an old one
    // from their reply cache and never run it again): start from the clock, in microseconds.
    firstSeq: BigInt(Date.now()) * 1000n,
    // Replicas order only what a listed client signed (a Byzantine leader cannot invent commands).
    signing: { signer: signerFromSecret(key.secretKey, 'ed25519'), chainId: config.chainId },
  });
  await client.start();
  return {
    client,
    config,
    id: me.id,
    quorum,
    connected: (ms: number): Promise<number> => awaitReplicas(() => endpoint.connectedReplicas().length, replicas.length, quorum, ms),
    close: () => client.stop(),
  };
}
