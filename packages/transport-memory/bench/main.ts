/**
 * In-process transport rate: frames of 64 and 1024 bytes from one transport to another through
 * a `MemoryHub`, sent in bursts of 1,000 per tick, timed until the last one is delivered.
 */
import { quick, sized, writeRecords } from '@phalanx/bench-kit';
import type { BenchRecord } from '@phalanx/bench-kit';
import { MemoryHub } from '../src/index.js';

async function rate(size: number, total: number): Promise<number> {
  const hub = new MemoryHub({ queueLimit: 1_000_000 });
  const a = hub.transport('a');
  const b = hub.transport('b');
  let got = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  b.onFrame(() => {
    if (++got === total) done();
  });
  await a.start();
  await b.start();
  const frame = new Uint8Array(size);
  const t0 = performance.now();
  for (let sent = 0; sent < total; ) {
    for (let i = 0; i < 1000 && sent < total; i++, sent++) a.send('b', frame);
    await new Promise((r) => setImmediate(r));
  }
  await finished;
  return total / ((performance.now() - t0) / 1000);
}

const total = sized(50_000, 1_000_000);
const records: BenchRecord[] = [];
for (const size of [64, 1024]) {
  await rate(size, Math.min(total, 20_000)); // warm-up
  const value = await rate(size, total);
  records.push({ suite: 'transport/memory', name: 'frames one way', value, unit: 'msgs/s', params: { frameBytes: size, burst: 1000, quick: quick() }, better: 'higher' });
}
writeRecords('@phalanx/transport-memory', records);
