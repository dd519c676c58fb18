/**
 * The YAML configuration of a Phalanx network, in the shape operators know from the seed
 * deployments: consensus type and its knobs, the nodes (addresses, public keys), storage and
 * metrics. Validated with zod; every error names the path of the offending value and why.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '@phalanx/interface';
import { DEFAULT_CODEC_LIMITS, MAX_GROUP_WIRE_BYTES as PBFT_GROUP_BYTES, newViewSizeBound } from '@phalanx/pbft';

const PBFT_MAX_BATCH = DEFAULT_CODEC_LIMITS.maxBatchSize;
import { DEFAULT_SYNC_WINDOW as HOTSTUFF_SYNC_WINDOW, MAX_GROUP_WIRE_BYTES as HOTSTUFF_GROUP_BYTES } from '@phalanx/hotstuff';
import { DEFAULT_MAX_FRAME_BYTES } from '@phalanx/transport-libp2p';
import { DEFAULT_MAX_KEYS, MAX_KEYS } from '@phalanx/kv-store';

const hex = z.string().regex(/^[0-9a-f]+$/i, 'must be a hex string');
const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8080')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');
const multiaddr = z.string().regex(/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d{1,5}(\/.*)?$/, 'must be a TCP multiaddr like /ip4/127.0.0.1/tcp/7000');

/** Heights between HotStuff snapshots that apps/node applies (node-runner); the sync window is the core's default. */
export const HOTSTUFF_SNAPSHOT_INTERVAL = 1000;

export const protocols = ['pbft', 'hotstuff'] as const;
export type ProtocolName = (typeof protocols)[number];

const nodeSchema = z.strictObject({
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  /** libp2p listen/dial address of this replica. */
  address: multiaddr,
  /** Scheme-tagged public key (hex) as written by `phalanx keygen`. */
  publicKey: hex,
  power: z.number().int().positive().default(1),
  /** HTTP JSON API (put/get/delete/status, health, readiness). */
  http: hostPort,
  /** Prometheus metrics endpoint; omit to disable for this node. */
  metrics: hostPort.optional(),
});

const configSchema = z
  .strictObject({
    version: z.literal(1),
    chainId: z.string().min(1).max(128),
    consensus: z.strictObject({
      type: z.enum(protocols),
      /** Base view-change / view timeout; backs off exponentially. */
      viewTimeoutMs: z.number().int().min(10).max(600_000).default(1000),
      /**
       * Period of each replica's status message, idle too (default 1000; 0 = off): PBFT sends a FETCH
       * to every replica, HotStuff a STATUS to one random one. It is how a replica cut off while the
       * others committed learns it is behind once the network heals, with no traffic left to tell
       * it. A HotStuff STATUS carries a QC (2f+1 signatures): raise it for large networks.
       */
      statusIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
      /** PBFT: heights between checkpoints (each stores the whole state). */
      checkpointInterval: z.number().int().min(1).max(1_000_000).default(100),
      /**
       * HotStuff only: heights between snapshots of the state, after which the stored log keeps
       * ~syncWindow blocks; 0 never snapshots (the log grows forever). Default 1000: a snapshot copies
       * and stores the whole state on every replica at once (~2 s for 1M keys here).
       */
      snapshotInterval: z.number().int().min(0).max(1_000_000_000).optional(),
      /**
       * HotStuff only: recently committed blocks each replica keeps to serve block sync (default
       * 1024). A replica further behind than this catches up by state transfer of the latest
       * certified snapshot instead; a larger window keeps more blocks in memory and in the log.
       * Must stay above snapshotInterval (checked below).
       */
      syncWindow: z.number().int().min(1).max(1_000_000).optional(),
      /**
       * HotStuff only (PBFT's primary is fixed by the view): who proposes in each view. Default
       * 'active-round-robin' passes over a replica missing from the last QC, so a crashed replica
       * stops costing a timeout per rotation; 'round-robin' is the paper's plain rotation.
       */
      leaderElection: z.enum(['active-round-robin', 'round-robin']).optional(),
      /**
       * HotStuff only: when a block is final. 'three-chain' (default) is HotStuff §4.3; 'two-chain'
       * (Jolteon §4 / Fast-HotStuff) decides one view sooner, its view change carrying the high QC
       * in timeout certificates. Every replica of a network must use the same rule.
       */
      commitRule: z.enum(['three-chain', 'two-chain']).optional(),
      batch: z
        .strictObject({
          maxSize: z.number().int().min(1).max(100_000).default(512),
          // 0: propose at once while fewer than the pipeline depth of batches are in flight; under
          // load batches fill by themselves. A wait here is added to every light-load commit.
          timeoutMs: z.number().int().min(0).max(10_000).default(0),
          // Bytes of requests per batch or block (and per relay of requests, per sync answer):
          // every message carrying requests must fit the transport's 4 MiB frame, whatever the
          // payloads weigh, so at most 2 MiB (leaves room for certificates and headers).
          maxBytes: z.number().int().min(2048).max(2 * 1024 * 1024).default(1024 * 1024),
          // Largest request payload; a bigger one is refused to the client with 'too-large'.
          maxRequestBytes: z.number().int().min(1).max(1024 * 1024).default(64 * 1024),
        })
        .default({ maxSize: 512, timeoutMs: 0, maxBytes: 1024 * 1024, maxRequestBytes: 64 * 1024 }),
    }),
    /**
     * The replicated key-value store. Part of the replicated state's rules, so every replica must use
     * the same value (it is in this shared file for that reason).
     */
    kv: z
      .strictObject({
        // Results kept per client for exactly-once retries; a pipelined client may have this many
        // sequence numbers in flight (`load --window` is checked against it).
        sessionWindow: z.number().int().min(1).max(1_000_000).default(4096),
        // Most keys the store holds; a put of a new key past it fails with `store full`.
        maxKeys: z.number().int().min(1).max(MAX_KEYS).default(DEFAULT_MAX_KEYS),
      })
      .default({ sessionWindow: 4096, maxKeys: DEFAULT_MAX_KEYS }),
    nodes: z.array(nodeSchema).min(1),
    /** Public keys of clients allowed to use the client protocol (the HTTP API is local to each node). */
    clients: z
      // At most 256 characters: the longest client id PBFT, HotStuff and the KV store's sessions
      // take (and what their signed-group room is computed for). A longer one would be admitted
      // on the client protocol and then dropped by the core, so its commands could only time out.
      .array(z.strictObject({ id: z.string().min(1).max(256), publicKey: hex }))
      .default([]),
    storage: z
      .strictObject({
        type: z.enum(['lmdb', 'memory']).default('lmdb'),
        /** Data directory; `run --data-dir` overrides it. */
        path: z.string().optional(),
      })
      .default({ type: 'lmdb' }),
    logging: z
      .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'), pretty: z.boolean().default(false) })
      .default({ level: 'info', pretty: false }),
    /**
     * Signature verification off the event loop (DESIGN §10). `verifyWorkers`: worker threads per
     * replica process (0 = every signature on the event loop). `minPoolItems`: fewest signatures
     * not yet verified that a message needs to go to the workers; below it the replica verifies
     * inline, since a round trip to a worker costs about two Ed25519 verifications.
     * `poolTimeoutMs`: longest wait for the workers before the queued messages are stepped anyway
     * (verified inline) and the workers are left alone for 30 s. Both ranges lie inside what the
     * Replica accepts (it throws ConfigError outside them); `minPoolItems` 0, which the Replica
     * takes as 1, is refused here rather than offered as a second spelling of 1.
     */
    crypto: z
      .strictObject({
        verifyWorkers: z.number().int().min(0).max(64).default(1),
        minPoolItems: z.number().int().min(1).max(1_000_000).default(2),
        poolTimeoutMs: z.number().int().min(10).max(600_000).default(5000),
      })
      .default({ verifyWorkers: 1, minPoolItems: 2, poolTimeoutMs: 5000 }),
  })
  .superRefine((c, ctx) => {
    if (c.consensus.leaderElection !== undefined && c.consensus.type !== 'hotstuff') {
      ctx.addIssue({ code: 'custom', path: ['consensus', 'leaderElection'], message: `only for hotstuff (${c.consensus.type}'s leader follows from the view)` });
    }
    if (c.consensus.snapshotInterval !== undefined && c.consensus.type !== 'hotstuff') {
      ctx.addIssue({ code: 'custom', path: ['consensus', 'snapshotInterval'], message: `only for hotstuff (${c.consensus.type} snapshots at its checkpoints: checkpointInterval)` });
    }
    if (c.consensus.syncWindow !== undefined && c.consensus.type !== 'hotstuff') {
      ctx.addIssue({ code: 'custom', path: ['consensus', 'syncWindow'], message: `only for hotstuff (${c.consensus.type} catches up from its checkpoints: checkpointInterval)` });
    }
    if (c.consensus.type === 'hotstuff') {
      // A replica that installs a snapshot by state transfer fetches the blocks after it from its
      // peers' sync windows: with snapshots further apart than the window, an idle cluster may
      // keep none of them, and the replica would stay behind for good.
      const interval = c.consensus.snapshotInterval ?? HOTSTUFF_SNAPSHOT_INTERVAL;
      const window = c.consensus.syncWindow ?? HOTSTUFF_SYNC_WINDOW;
      if (interval !== 0 && interval >= window) {
        ctx.addIssue({
          code: 'custom',
          path: ['consensus', c.consensus.syncWindow !== undefined ? 'syncWindow' : 'snapshotInterval'],
          message: `snapshotInterval (${interval}) must be below syncWindow (${window}) or 0: a replica that catches up by state transfer fetches the blocks after the snapshot from its peers' sync windows`,
        });
      }
    }
    if (c.consensus.commitRule !== undefined && c.consensus.type !== 'hotstuff') {
      ctx.addIssue({ code: 'custom', path: ['consensus', 'commitRule'], message: `only for hotstuff (${c.consensus.type} commits by its own phases)` });
    }
    if (c.consensus.type === 'pbft' && c.consensus.batch.timeoutMs * 2 > c.consensus.viewTimeoutMs) {
      // PBFT's own rule (its batchTimeoutMs), checked here so the file names the field: backups
      // start their view-change timers when a request reaches them, and would reach them while
      // the primary waits to fill a batch.
      ctx.addIssue({ code: 'custom', path: ['consensus', 'batch', 'timeoutMs'], message: `must be at most half of viewTimeoutMs (${c.consensus.viewTimeoutMs}) for pbft, got ${c.consensus.batch.timeoutMs}` });
    }
    if (c.consensus.type === 'pbft' && c.consensus.batch.maxSize > PBFT_MAX_BATCH) {
      // More than PBFT's codec decodes: every backup would refuse such a batch.
      ctx.addIssue({ code: 'custom', path: ['consensus', 'batch', 'maxSize'], message: `at most ${PBFT_MAX_BATCH} requests per batch for pbft, got ${c.consensus.batch.maxSize}` });
    }
    // The room a core keeps beside the largest request: its headers (1 KiB) and its signed group,
    // counted whole when it travels alone (apps/node always authenticates clients).
    const groupRoom = c.consensus.type === 'pbft' ? PBFT_GROUP_BYTES : HOTSTUFF_GROUP_BYTES;
    if (c.consensus.batch.maxRequestBytes + 1024 + groupRoom > c.consensus.batch.maxBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['consensus', 'batch', 'maxRequestBytes'],
        message: `a request of ${c.consensus.batch.maxRequestBytes} bytes must fit a batch of maxBytes (${c.consensus.batch.maxBytes}) with ${1024 + groupRoom} bytes to spare for its headers and signed group`,
      });
    }
    if (c.consensus.type === 'pbft' && c.nodes.length >= 4) {
      const { bound, fits } = pbftNewViewFit(c.nodes.map((n) => n.id), c.consensus.checkpointInterval);
      if (fits !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['consensus', 'checkpointInterval'],
          message:
            `with ${c.nodes.length} replicas a PBFT NEW-VIEW can reach ${(bound / 1048576).toFixed(1)} MiB, too close to the transport's ` +
            `${DEFAULT_MAX_FRAME_BYTES / 1048576} MiB frame: a view change might never complete; use a checkpointInterval of at most about ${fits}`,
        });
      }
    }
    const clientIds = new Map<string, number>();
    const clientKeys = new Map<string, number>();
    c.clients.forEach((cl, i) => {
      // Ids of this shape name a node's own HTTP API clients, whose commands that node signs.
      if (cl.id.startsWith('local-')) ctx.addIssue({ code: 'custom', path: ['clients', i, 'id'], message: `"local-" ids are reserved for the nodes' own API clients` });
      const j = clientIds.get(cl.id);
      if (j !== undefined) ctx.addIssue({ code: 'custom', path: ['clients', i, 'id'], message: `same id as clients[${j}]` });
      else clientIds.set(cl.id, i);
      // One id per key: the transport names a client by its key (the last entry wins) while the
      // client signs under the id it finds first, so with a shared key every command of one of
      // them would be signed for another id and refused as unauthenticated.
      const key = cl.publicKey.toLowerCase();
      const k = clientKeys.get(key);
      if (k !== undefined) ctx.addIssue({ code: 'custom', path: ['clients', i, 'publicKey'], message: `same publicKey as clients[${k}]` });
      else clientKeys.set(key, i);
    });
    const seen = new Map<string, number>();
    c.nodes.forEach((n, i) => {
      for (const [what, v] of [
        ['id', n.id],
        ['publicKey', n.publicKey.toLowerCase()],
        ['address', n.address],
        ['http', n.http],
        ...(n.metrics ? [['metrics', n.metrics] as const] : []),
      ] as const) {
        // A wildcard listen address (0.0.0.0:8080) is per machine: every pod of a StatefulSet uses the same one.
        if ((what === 'http' || what === 'metrics') && /^(0\.0\.0\.0|::|\[::\]):/.test(v)) continue;
        const key = `${what === 'metrics' ? 'http' : what}:${v}`;
        const j = seen.get(key);
        if (j !== undefined) ctx.addIssue({ code: 'custom', path: ['nodes', i, what], message: `same ${what} as nodes[${j}]` });
        else seen.set(key, i);
      }
    });
  });

/**
 * §4.4: a PBFT NEW-VIEW carries 2f+1 VIEW-CHANGEs, each with up to L = 2 x checkpointInterval
 * prepared certificates of 2f signatures. Past the transport's frame it is dropped, always: a
 * view change that can never finish. `bound` is its largest size with these ids and interval;
 * `fits` is set when that exceeds the frame, to about the largest interval that does not.
 */
export function pbftNewViewFit(ids: readonly string[], checkpointInterval: number): { bound: number; fits?: number } {
  // 10% below the frame: headroom for framing and for anything the bound does not model.
  const limit = Math.floor(DEFAULT_MAX_FRAME_BYTES * 0.9);
  const bound = newViewSizeBound({ ids, watermarkWindow: 2 * checkpointInterval });
  if (bound <= limit) return { bound };
  return { bound, fits: Math.max(1, Math.floor(((checkpointInterval * limit) / bound) * 0.95)) };
}

export type NetworkConfig = z.infer<typeof configSchema>;
export type NodeConfig = NetworkConfig['nodes'][number];

function pathOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '');
}

/** Validates a parsed configuration object; throws `ConfigError` naming the first bad path. */
export function validateConfig(raw: unknown, source = 'config'): NetworkConfig {
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = pathOf(issue.path);
    throw new ConfigError(path ? `${source}: ${path}` : source, issue.message);
  }
  return r.data;
}

/** Reads and validates a YAML (or JSON, which is YAML) configuration file. */
export function loadConfig(file: string): NetworkConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(file, `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return validateConfig(raw, file);
}

export function configToYaml(config: NetworkConfig): string {
  return stringifyYaml(config, { lineWidth: 0 });
}

export function nodeById(config: NetworkConfig, id: string): NodeConfig {
  const n = config.nodes.find((x) => x.id === id);
  if (!n) throw new ConfigError('nodes', `no node with id "${id}" (have ${config.nodes.map((x) => x.id).join(', ')})`);
  return n;
}
