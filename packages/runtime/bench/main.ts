/**
 * End-to-end commit rate through the runtime: four replicas in one process (transport-memory,
 * storage-memory), a pipelined `Client` waiting for f+1 matching replies, 100-byte KV puts.
 * Measured for PBFT and chained HotStuff beside the ceiling from the same run: the unreplicated
 * KV state machine applying the same commands in this process.
 */
import { latencyRecorder, measureUnreplicatedKv, unreplicatedKvCeiling, kvPutOfSize, quick, sized, ReferenceKv, writeRecords } from '@phalanx/bench-kit';
import type { BenchRecord } from '@phalanx/bench-kit';
import { MemoryHub } from '@phalanx/transport-memory';
import { MemoryDisk, openMemoryStorage } from '@phalanx/storage-memory';
import { createValidatorSet } from '@phalanx/quorum';
import { generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import { pbft } from '@phalanx/pbft';
import { hotstuff } from '@phalanx/hotstuff';
import type { ProtocolDefinition } from '@phalanx/interface';
import { Client, Replica } from '../src/index.js';

const ids = ['r0', 'r1', 'r2', 'r3'];

async function run(def: ProtocolDefinition<unknown, unknown>, config: unknown, commands: number, window: number, followLeader: boolean) {
  const keys = ids.map(() => generateKeyPair('ed25519'));
  const validators = createValidatorSet(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey, power: 1 })));
  const hub = new MemoryHub({ queueLimit: 100_000 });
  const replicas = ids.map((id, i) => {
    const transport = hub.transport(id, { peers: ids });
    return new Replica({
      protocol: def,
      config,
      self: id,
      validators,
      signer: signerFromSecret(keys[i]!.secretKey),
      storage: openMemoryStorage({ disk: new MemoryDisk() }),
      transport,
      clients: transport.clients,
      stateMachine: new ReferenceKv(),
    });
  });
  await Promise.all(replicas.map((r) => r.start()));
  const client = new Client({ endpoint: hub.client('bench'), replicas: ids, quorum: 2, maxInFlight: window, retryMs: 2_000, timeoutMs: 120_000, followLeader });
  await client.start();
  // Warm-up: leader election / first view and JIT, which would otherwise dominate a short run.
  await Promise.all(Array.from({ length: 32 }, (_, i) => client.submit(kvPutOfSize(1_000_000 + i))));
  const lat = latencyRecorder();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: commands }, async (_, i) => {
      const s = performance.now();
      await client.submit(kvPutOfSize(i));
      lat.record(performance.now() - s);
    }),
  );
  const rate = commands / ((performance.now() - t0) / 1000);
  await client.stop();
  await Promise.all(replicas.map((r) => r.stop()));
  return { rate, p50: lat.summary().p50 };
}

const ceilingM = measureUnreplicatedKv({ minTimeMs: sized(200, 1000) });
const ceiling = unreplicatedKvCeiling(ceilingM);
const commands = sized(300, 3_000);
const window = 256;
const records: BenchRecord[] = [];
// [label, protocol, config, whether the client sends first attempts to the leader hint]
const protocols: Array<[string, ProtocolDefinition<unknown, unknown>, unknown, boolean]> = [
  ['pbft', pbft as ProtocolDefinition<unknown, unknown>, { chainId: 'bench' }, false],
  ['pbft', pbft as ProtocolDefinition<unknown, unknown>, { chainId: 'bench' }, true],
  ['hotstuff', hotstuff as ProtocolDefinition<unknown, unknown>, { chainId: 'bench' }, false],
  ['hotstuff', hotstuff as ProtocolDefinition<unknown, unknown>, { chainId: 'bench' }, true],
];
for (const [name, def, config, followLeader] of protocols) {
  const r = await run(def, config, commands, window, followLeader);
  const params = { protocol: name, n: 4, transport: 'memory', storage: 'memory', window, commandBytes: 100, firstAttempt: followLeader ? 'leader' : 'all', quick: quick() };
  records.push({ suite: 'runtime/in-process', name: 'client commits', value: r.rate, unit: 'ops/s', params, ceiling, better: 'higher' });
  records.push({ suite: 'runtime/in-process', name: 'client latency', value: r.p50, unit: 'ms', params: { ...params, stat: 'p50' }, better: 'lower' });
}
writeRecords('@phalanx/runtime', records);
process.exit(0);
