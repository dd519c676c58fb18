/**
 * Run by stall.test.ts in a process of its own: validator r1, linked to r0 in the test's process.
 * On "stall" (stdin) it blocks its event loop, as a checkpoint of a large state or a major GC does.
 */
import { Libp2pTransport } from '../src/index.js';
import type { PeerConfig } from '../src/index.js';

interface Args {
  readonly seed: number[];
  readonly listen: string[];
  readonly validators: Array<Omit<PeerConfig, 'publicKey'> & { publicKey: number[] }>;
}

const args = JSON.parse(process.argv[2]!) as Args;
const t = new Libp2pTransport({
  self: 'r1',
  seed: Uint8Array.from(args.seed),
  listen: args.listen,
  validators: args.validators.map((v) => ({ ...v, publicKey: Uint8Array.from(v.publicKey) })),
  reconnect: { initialMs: 20, maxMs: 200 },
});
await t.start();
process.stdout.write('started\n');
process.stdin.on('data', (d: Buffer) => {
  const ms = Number(d.toString().trim());
  process.stdout.write('stalling\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); // the thread sleeps: no timers, no I/O
  process.stdout.write('awake\n');
});
