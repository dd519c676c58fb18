/**
 * `phalanx run`: one replica — configuration and key → durable storage (LMDB) → libp2p transport
 * → the runtime driving the configured protocol core → the key-value application; plus the HTTP
 * API, Prometheus metrics and structured logs. Every misconfiguration is a named error before any
 * port is opened or any byte written.
 */
import path from 'node:path';
import type http from 'node:http';
import { createBatchVerifier, createVerifiedCache, readKeyFile, signerFromSecret, verifier, sha256Native } from '@phalanx/crypto';
import { createRequestAuthenticator } from '@phalanx/client-auth';
import { bytesEqual, fromHex } from '@phalanx/codec';
import { ConfigError, KeyFileError, StorageError } from '@phalanx/interface';
import type { NodeId, ProtocolDefinition, RequestAuthenticator, Storage } from '@phalanx/interface';
import { quorumSize } from '@phalanx/quorum';
import { KvStore } from '@phalanx/kv-store';
import { Replica } from '@phalanx/runtime';
import { Libp2pTransport } from '@phalanx/transport-libp2p';
import { openLmdbStorage } from '@phalanx/storage-lmdb';
import { openMemoryStorage } from '@phalanx/storage-memory';
import { pbft } from '@phalanx/pbft';
import { activeRoundRobin, hotstuff, roundRobin } from '@phalanx/hotstuff';
import { HOTSTUFF_SNAPSHOT_INTERVAL, loadConfig } from './config.js';
import type { NetworkConfig, NodeConfig } from './config.js';
import { createLogger } from './log.js';
import { NodeMetrics, serveMetrics } from './metrics.js';
import { serveHttpApi } from './http-api.js';
import { LocalClients, localClientNode } from './local-clients.js';
import { SeqReservation } from './seq-reservation.js';
import { certificateFile, validatorSetOf } from './verify.js';

export interface RunOptions {
  readonly config: string;
  readonly key: string;
  readonly dataDir?: string;
  readonly logLevel?: string;
  readonly pretty?: boolean;
}

export interface RunningNode {
  readonly id: string;
  stop(): Promise<void>;
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

/** The protocol definition and its configuration, from the `consensus` section. */
export function protocolFor(config: NetworkConfig, clientAuth: RequestAuthenticator): { def: ProtocolDefinition<unknown, unknown>; settings: unknown } {
  const c = config.consensus;
  switch (c.type) {
    case 'pbft':
      return {
        def: pbft as ProtocolDefinition<unknown, unknown>,
        settings: {
          chainId: config.chainId,
          checkpointInterval: c.checkpointInterval,
          maxBatchSize: c.batch.maxSize,
          maxBatchBytes: c.batch.maxBytes,
          maxPayloadBytes: c.batch.maxRequestBytes,
          batchTimeoutMs: c.batch.timeoutMs,
          viewChangeTimeoutMs: c.viewTimeoutMs,
          ...(c.statusIntervalMs !== undefined ? { statusIntervalMs: c.statusIntervalMs } : {}),
          hasher: sha256Native,
          clientAuth,
        },
      };
    case 'hotstuff':
      return {
        def: hotstuff as ProtocolDefinition<unknown, unknown>,
        settings: {
          chainId: config.chainId,
          maxBlockCommands: c.batch.maxSize,
          maxBlockBytes: c.batch.maxBytes,
          maxPayloadBytes: c.batch.maxRequestBytes,
          baseTimeoutMs: c.viewTimeoutMs,
          ...(c.statusIntervalMs !== undefined ? { statusIntervalMs: c.statusIntervalMs } : {}),
          hasher: sha256Native,
          leaderElection: c.leaderElection === 'round-robin' ? roundRobin : activeRoundRobin,
          commitRule: c.commitRule ?? 'three-chain',
          // A snapshot every snapshotInterval heights bounds the stored log (and what a restart replays).
          snapshotInterval: c.snapshotInterval ?? HOTSTUFF_SNAPSHOT_INTERVAL,
          // Further behind than this many blocks, a replica catches up by state transfer.
          ...(c.syncWindow !== undefined ? { syncWindow: c.syncWindow } : {}),
          // Explicit, not the core's default by chance: the first piece of a state transfer also
          // carries the block's commit proof, up to batch.maxBytes (<= 2 MiB), and both must fit
          // the transport's 4 MiB frame.
          stateChunkBytes: 1024 * 1024,
          clientAuth,
        },
      };
  }
}

/**
 * Whose key signs a client id's commands: a configured client's own key, or for a node's local
 * (HTTP API) client `local-<node>`, that node's validator key.
 */
export function clientKeyDirectory(config: NetworkConfig): (id: NodeId) => Uint8Array | undefined {
  const clients = new Map(config.clients.map((c) => [c.id, fromHex(c.publicKey)]));
  const nodes = new Map(config.nodes.map((n) => [n.id, fromHex(n.publicKey)]));
  return (id) => {
    const client = clients.get(id);
    if (client) return client;
    const node = localClientNode(id);
    return node === undefined ? undefined : nodes.get(node);
  };
}

export async function runReplica(o: RunOptions): Promise<RunningNode> {
  const config = loadConfig(o.config);
  const key = readKeyFile(o.key);
  if (key.scheme !== 'ed25519') {
    throw new KeyFileError(o.key, `scheme ${key.scheme} cannot be a libp2p identity yet; replicas use ed25519 keys`);
  }
  const me: NodeConfig | undefined = config.nodes.find((n) => bytesEqual(fromHex(n.publicKey), key.publicKey));
  if (!me) throw new KeyFileError(o.key, `its public key is not a validator in ${o.config}`);
  const dataDir = o.dataDir ?? config.storage.path;
  if (!dataDir && config.storage.type === 'lmdb') throw new ConfigError('storage.path', 'no data directory: pass --data-dir or set storage.path');
  const validators = validatorSetOf(config);
  const log = createLogger({ level: o.logLevel ?? config.logging.level, pretty: o.pretty ?? config.logging.pretty, name: `phalanx-${me.id}` });
  // Every command must carry its client's signature, checked where it enters and again by every
  // replica inside each proposal: otherwise a Byzantine leader could order commands no client sent.
  // One verified-digest cache for the core and the client authenticator, so that what the worker
  // pool verified (peer messages, client frames) is a hit for both.
  const verifiedCache = createVerifiedCache({ verifier, capacity: 65_536 });
  const clientAuth = createRequestAuthenticator({
    chainId: config.chainId,
    keyOf: clientKeyDirectory(config),
    verifier: verifiedCache,
    hasher: sha256Native,
  });
  const { def, settings } = protocolFor(config, clientAuth);

  const storage: Storage =
    config.storage.type === 'lmdb'
      ? await openLmdbStorage({ path: path.resolve(dataDir!), identity: { validator: me.id, protocol: def.name, chainId: config.chainId } })
      : openMemoryStorage({ identity: { validator: me.id, protocol: def.name, chainId: config.chainId } });
  const metrics = new NodeMetrics({ node: me.id, protocol: def.name });
  const transport = new Libp2pTransport({
    self: me.id,
    seed: key.secretKey.subarray(1),
    listen: [me.address],
    validators: config.nodes.map((n) => ({ id: n.id, publicKey: fromHex(n.publicKey), addrs: [n.address] })),
    clients: config.clients.map((c) => ({ id: c.id, publicKey: fromHex(c.publicKey) })),
    network: config.chainId,
    logger: log,
  });
  // In flight through the HTTP API: within the session window the state machine keeps per client.
  const signer = signerFromSecret(key.secretKey, 'ed25519');
  const seqs = new SeqReservation(config.storage.type === 'lmdb' ? path.join(path.resolve(dataDir!), 'local-client-seq') : undefined);
  const local: LocalClients = new LocalClients(me.id, transport.clients, {
    maxInFlight: Math.min(1024, config.kv.sessionWindow),
    signing: { signer, chainId: config.chainId },
    // Above the last run's reservation (kept beside the replica's data), the clock and what the
    // replica executed for this client; reserved on disk before any of them is used.
    seqs: {
      start: (): Promise<bigint> => seqs.start(replica.highestExecuted(local.id)),
      cover: (index: number): Promise<void> => seqs.cover(index),
    },
  });
  // Both protocols list their messages' signatures (`preverifier`), and client frames carry group
  // signatures: the pool verifies them before the core steps, which then finds them in the cache.
  const pool = config.crypto.verifyWorkers > 0 ? createBatchVerifier({ workers: config.crypto.verifyWorkers }) : undefined;
  let halted = false;
  // A worker stuck on a batch would hold `close` (it lets submitted batches finish) for ever.
  const closePool = async (): Promise<void> => {
    if (pool) await Promise.race([pool.close(), new Promise<void>((r) => setTimeout(r, 2000).unref())]);
  };
  const replica = new Replica({
    protocol: def,
    config: settings,
    // The same bound as the core's, so an oversized request is refused to the client ('too-large')
    // rather than dropped by the core.
    maxRequestBytes: config.consensus.batch.maxRequestBytes,
    self: me.id,
    validators,
    signer,
    verifiedCache,
    ...(pool ? { batchVerifier: pool, minPoolItems: config.crypto.minPoolItems, poolTimeoutMs: config.crypto.poolTimeoutMs } : {}),
    storage,
    transport,
    clients: local,
    clientAuth,
    stateMachine: new KvStore({ sessionWindow: config.kv.sessionWindow, maxKeys: config.kv.maxKeys }),
    logger: log,
    hooks: {
      onCommit: (i) => {
        if (i.proof) local.keep(i.height, i.proof);
        metrics.consensusRounds.inc();
        metrics.committedCommands.inc(i.requests);
        metrics.height.set(Number(i.height));
      },
      onPersist: (i) => {
        metrics.storageSyncs.inc();
        metrics.storageSyncSeconds.observe(i.syncMs / 1000);
      },
      onSend: (i) => metrics.messagesSent.inc({ peer: i.to }),
      onMessage: (i) => metrics.messagesReceived.inc({ peer: i.from }),
      onPreverify: (i) => {
        metrics.preverified.inc({ result: 'valid' }, i.valid);
        if (i.items > i.valid) metrics.preverified.inc({ result: 'invalid' }, i.items - i.valid);
      },
      onTimerLate: () => metrics.timersLate.inc(),
      onMalformed: (i) => metrics.misbehaviour.inc({ peer: i.peer, kind: 'malformed' }),
      onEvent: (e) => {
        if (e.type === 'view-change') metrics.viewChanges.inc();
        else if (e.type === 'misbehaviour') metrics.misbehaviour.inc({ peer: e.peer, kind: e.kind });
        else if (e.type === 'peer-status') metrics.peerStatus.set({ peer: e.peer }, e.status === 'isolated' ? 1 : 0);
      },
      onFatal: (err) => {
        halted = true;
        metrics.halted.set(1);
        if (err instanceof StorageError || (err as { cause?: unknown }).cause instanceof StorageError) metrics.storageErrors.inc();
        log.error({ err: err.message }, 'replica halted: it stops taking part rather than risk safety');
      },
    },
  });

  const servers: http.Server[] = [];
  try {
    await replica.start();
    const quorumPeers = quorumSize(config.nodes.length) - 1;
    const handle = {
      submit: (payload: Uint8Array) => {
        const t0 = performance.now();
        return local.submit(payload).then((r) => {
          metrics.latency.observe((performance.now() - t0) / 1000);
          return r;
        });
      },
      // A halted replica is not ready: /readyz tells a supervisor to restart it.
      isReady: () => !halted && transport.connectedPeers().length >= quorumPeers,
      stateDigest: () => replica.digestState(),
      status: () => {
        const s = replica.status();
        if (s) metrics.view.set(Number(s.view));
        return {
          node: me.id,
          protocol: def.name,
          chainId: config.chainId,
          view: s?.view,
          leader: s?.leader,
          role: s?.role,
          committedHeight: replica.committedHeight,
          connectedPeers: transport.connectedPeers().length,
          // What the protocol core reports of itself (watermarks, QCs, mempool …), and what this
          // node refused: frames the transport dropped and messages the replica could not decode,
          // per peer and reason — where an operator looks first when a peer misbehaves.
          core: s?.detail ?? {},
          transport: transport.stats(),
          malformed: replica.metrics().malformed,
        };
      },
      certificate: (height: bigint) => {
        const proof = local.proof(height);
        return proof ? certificateFile(def.name, config.chainId, height, proof) : undefined;
      },
    };
    const [httpHost, httpPort] = splitHostPort(me.http);
    servers.push(await serveHttpApi(handle, httpHost, httpPort));
    if (me.metrics) {
      const [mh, mp] = splitHostPort(me.metrics);
      servers.push(await serveMetrics(metrics, mh, mp));
    }
    log.info({ http: me.http, metrics: me.metrics, address: me.address, dataDir }, 'replica serving');
  } catch (err) {
    for (const s of servers) s.close();
    await replica.stop().catch(() => undefined);
    await closePool();
    throw err;
  }
  return {
    id: me.id,
    async stop() {
      for (const s of servers) s.close();
      await local.abandon();
      await replica.stop();
      await closePool();
      log.info({}, 'replica stopped cleanly');
    },
  };
}
