// One replica (PBFT, or HotStuff with `protocol: 'hotstuff'`) as an OS process: libp2p transport,
// LMDB storage, the runtime. Started by multiprocess.test.ts with its configuration in
// PHALANX_REPLICA (JSON); answers `status` over IPC.
import { createHash } from 'node:crypto';
import { fromHex, toHex, encode, decode, readArray, readString, readBytes } from '@phalanx/codec';
import { createValidatorSet } from '@phalanx/quorum';
import { signerFromSecret } from '@phalanx/crypto';
import { pbft } from '@phalanx/pbft';
import { hotstuff } from '@phalanx/hotstuff';
import { openLmdbStorage } from '@phalanx/storage-lmdb';
import { Libp2pTransport } from '@phalanx/transport-libp2p';
import { Replica } from '../../dist/index.js';

const cfg = JSON.parse(process.env.PHALANX_REPLICA);
const ids = cfg.validators.map((v) => v.id);
const validators = createValidatorSet(cfg.validators.map((v) => ({ id: v.id, publicKey: fromHex(v.publicKey), power: 1 })));
const secret = fromHex(cfg.secretKey);

class LogMachine {
  entries = [];
  hash = new Uint8Array(32);
  apply(commands) {
    return commands.map((c) => {
      this.entries.push(`${c.client}:${c.seq}:${toHex(c.payload)}`);
      this.hash = new Uint8Array(createHash('sha256').update(this.hash).update(c.payload).digest());
      return encode([this.entries.length, this.hash]);
    });
  }
  snapshot() {
    return encode([this.entries, this.hash]);
  }
  restore(s) {
    const a = readArray(decode(s, { maxBytes: 1 << 30 }), 'snap', 2);
    this.entries = readArray(a[0], 'entries').map((e) => readString(e, 'e', 1 << 20));
    this.hash = readBytes(a[1], 'hash');
  }
}

/** The protocol and its configuration: HotStuff's syncWindow, snapshotInterval and stateTickMs when the JSON sets them, else the core's defaults. */
function consensus() {
  if (cfg.protocol === 'hotstuff') {
    const pass = {};
    for (const k of ['syncWindow', 'snapshotInterval', 'stateTickMs']) if (cfg[k] !== undefined) pass[k] = cfg[k];
    return { protocol: hotstuff, config: { chainId: 'mp-test', baseTimeoutMs: 1000, ...pass } };
  }
  return { protocol: pbft, config: { chainId: 'mp-test', checkpointInterval: cfg.checkpointInterval ?? 50, viewChangeTimeoutMs: 1000 } };
}

/** PHALANX_MP_LOG=1: info and above on stderr, one JSON line each (for diagnosing a failed run). */
function stderrLogger(bindings) {
  const line = (level) => (obj, msg) => process.stderr.write(`${JSON.stringify({ level, t: Date.now(), ...bindings, ...obj, msg }, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n`);
  const noop = () => undefined;
  return { debug: noop, info: line('info'), warn: line('warn'), error: line('error'), child: (b) => stderrLogger({ ...bindings, ...b }) };
}

const app = new LogMachine();
let stateTransfers = 0;
const { protocol, config } = consensus();
const storage = await openLmdbStorage({ path: cfg.dataDir, identity: { validator: cfg.self, protocol: protocol.name, chainId: 'mp-test' } });
const transport = new Libp2pTransport({
  self: cfg.self,
  seed: secret.subarray(1), // the tagged Ed25519 secret: tag byte, then the 32-byte seed
  listen: [`/ip4/127.0.0.1/tcp/${cfg.port}`],
  validators: cfg.validators.map((v) => ({ id: v.id, publicKey: fromHex(v.publicKey), addrs: [`/ip4/127.0.0.1/tcp/${v.port}`] })),
  clients: cfg.clients.map((c) => ({ id: c.id, publicKey: fromHex(c.publicKey) })),
  reconnect: { initialMs: 50, maxMs: 500 },
  ...(cfg.queueLimit ? { queueLimit: cfg.queueLimit } : {}),
});
const replica = new Replica({
  protocol,
  config,
  self: cfg.self,
  validators,
  signer: signerFromSecret(secret),
  storage,
  transport,
  clients: transport.clients,
  stateMachine: app,
  ...(process.env.PHALANX_MP_LOG ? { logger: stderrLogger({ node: cfg.self }) } : {}),
  hooks: {
    onFatal: (e) => process.send?.({ type: 'fatal', error: e.message }),
    onEvent: (e) => {
      if (e.type === 'state-transfer' && e.phase === 'completed') stateTransfers++;
    },
  },
});
await replica.start();
process.on('message', async (m) => {
  if (m.type === 'status') {
    const detail = replica.status()?.detail;
    process.send({
      type: 'status',
      height: String(replica.committedHeight),
      // PBFT's stable checkpoint; HotStuff's highest certified checkpoint.
      stable: String(detail?.stableCheckpoint ?? detail?.checkpointHeight ?? ''),
      transfers: stateTransfers,
      digest: toHex(replica.stateDigest()),
      entries: app.entries.length,
      unique: new Set(app.entries.map((e) => e.split(':').slice(2).join(':'))).size,
      connected: transport.connectedPeers().length,
    });
  } else if (m.type === 'stop') {
    await replica.stop();
    process.exit(0);
  }
});
process.send({ type: 'ready', peers: ids.length });
