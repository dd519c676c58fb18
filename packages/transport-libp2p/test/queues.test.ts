import { describe, it, expect } from 'vitest';
import { silentLogger } from '@phalanx/interface';
import { Counters, InboundQueues, OutQueue } from '../src/queues.js';

const MiB = 1024 * 1024;
const frame = (mib: number): Uint8Array => new Uint8Array(mib * MiB);

describe('per-peer queues are bounded in bytes as well as in frames', () => {
  it('outbound: frames for a peer that is down stop queueing at queueBytes (one frame is always taken)', () => {
    const counters = new Counters(silentLogger, 60_000);
    // No stream attached: the peer is down and everything waits.
    const q = new OutQueue('r1', { queueLimit: 10_000, queueBytes: 3 * MiB, coalesce: true, maxBatchBytes: 256 * 1024 }, counters);
    for (let i = 0; i < 5; i++) q.push(frame(1));
    expect(q.length).toBe(3);
    expect(counters.snapshot().dropped['r1']).toEqual({ 'queue-full': 2 });
    q.clear();
    q.push(frame(5)); // larger than the bound, but alone: still sent
    expect(q.length).toBe(1);
    q.push(new Uint8Array(1));
    expect(q.length).toBe(1);
  });

  it('inbound: a peer cannot queue more than inboundQueueBytes before it is drained', async () => {
    const counters = new Counters(silentLogger, 60_000);
    const got: number[] = [];
    const q = new InboundQueues(10_000, 3 * MiB, 512, counters, (_from, f) => got.push(f.length));
    for (let i = 0; i < 5; i++) q.push('r2', frame(1));
    q.push('r3', frame(1)); // another peer's bound is its own
    await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(4);
    expect(counters.snapshot().dropped).toEqual({ r2: { 'queue-full': 2 } });
    q.push('r2', frame(1)); // drained: room again
    await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(5);
  });
});
