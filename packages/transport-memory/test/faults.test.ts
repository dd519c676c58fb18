import { describe, it, expect } from 'vitest';
import { ConfigError } from '@phalanx/interface';
import { MemoryHub } from '../src/index.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('memory hub fault injection', () => {
  async function cluster(n: number, queueLimit = 100) {
    const hub = new MemoryHub({ queueLimit, random: () => 0.5 });
    const ids = Array.from({ length: n }, (_, i) => `r${i}`);
    const ts = ids.map((id) => hub.transport(id, { peers: ids }));
    const got: Array<Array<[string, number]>> = ts.map(() => []);
    ts.forEach((t, i) => t.onFrame((from, f) => got[i]!.push([from, f[0]!])));
    await Promise.all(ts.map((t) => t.start()));
    return { hub, ts, got };
  }

  it('partitions and heals', async () => {
    const { hub, ts, got } = await cluster(4);
    hub.partition([['r0', 'r1'], ['r2', 'r3']]);
    ts[0]!.broadcast(Uint8Array.of(1));
    await tick();
    expect(got.map((g) => g.length)).toEqual([0, 1, 0, 0]);
    hub.heal();
    ts[0]!.broadcast(Uint8Array.of(2));
    await tick();
    expect(got.map((g) => g.length)).toEqual([0, 2, 1, 1]);
  });

  it('blocks one direction of a link', async () => {
    const { hub, ts, got } = await cluster(2);
    hub.block('r0', 'r1');
    ts[0]!.send('r1', Uint8Array.of(1));
    ts[1]!.send('r0', Uint8Array.of(2));
    await tick();
    expect(got).toEqual([[['r1', 2]], []]);
  });

  it('drops with the configured rate using the injected random source', async () => {
    const { hub, ts, got } = await cluster(2);
    hub.setDropRate(0.6); // random() = 0.5 < 0.6 → every frame dropped
    ts[0]!.send('r1', Uint8Array.of(1));
    await tick();
    hub.setDropRate(0.4);
    ts[0]!.send('r1', Uint8Array.of(2));
    await tick();
    expect(got[1]).toEqual([['r0', 2]]);
  });

  it('refuses a drop rate outside [0, 1] with ConfigError, keeping the rate it had', async () => {
    const { hub, ts, got } = await cluster(2);
    for (const p of [-0.1, 1.5, Number.NaN]) {
      expect(() => hub.setDropRate(p)).toThrow(expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'p', message: 'p: drop rate must be in [0, 1]' }));
    }
    ts[0]!.send('r1', Uint8Array.of(1));
    await tick();
    expect(got[1]).toEqual([['r0', 1]]);
  });

  it('refuses an endpoint id already on the hub, validator or client, with ConfigError', () => {
    const hub = new MemoryHub();
    hub.transport('r0');
    hub.client('c0');
    for (const id of ['r0', 'c0']) {
      const duplicate = expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'id', message: `id: duplicate endpoint id ${id}` });
      expect(() => hub.transport(id)).toThrow(duplicate);
      expect(() => hub.client(id)).toThrow(duplicate);
    }
    expect(hub.validatorIds()).toEqual(['r0']);
  });

  it('counts queue-full drops per peer past the queue limit', async () => {
    const { ts, got } = await cluster(2, 10);
    for (let i = 0; i < 15; i++) ts[0]!.send('r1', Uint8Array.of(i));
    await tick();
    expect(got[1]!.length).toBe(10);
    expect(ts[0]!.stats().dropped['r1']).toEqual({ 'queue-full': 5 });
  });

  it('keeps clients off the consensus plane and routes client frames', async () => {
    const { hub, ts, got } = await cluster(2);
    const c = hub.client('c1');
    const replies: Array<[string, number]> = [];
    c.onFrame((from, f) => replies.push([from, f[0]!]));
    const requests: Array<[string, number]> = [];
    ts[0]!.clients.onFrame((from, f) => {
      requests.push([from, f[0]!]);
      ts[0]!.clients.send(from, Uint8Array.of(f[0]! + 1));
    });
    await c.start();
    c.send('r0', Uint8Array.of(7));
    ts[1]!.send('c1', Uint8Array.of(9)); // a client is not a validator peer
    await tick();
    await tick();
    expect(requests).toEqual([['c1', 7]]);
    expect(replies).toEqual([['r0', 8]]);
    expect(got[0]).toEqual([]);
    expect(ts[1]!.stats().dropped['c1']).toEqual({ 'unknown-peer': 1 });
  });
});
