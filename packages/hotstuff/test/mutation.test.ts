/**
 * Mutation test: the checks must be able to fail. A core patched to commit on a ONE-chain (a block
 * is final as soon as it is certified, ignoring HotStuff §4.3) is run through the simulator with
 * faults; the agreement/total-order checkers must catch it. The real core passes the same seeds.
 */
import { describe, expect, it } from 'vitest';
import { runSeeds } from '@phalanx/sim';
import { createSimulation, hotstuff, HotStuffCore, simulation } from '../src/index.js';
import type { HotStuffMessage, QuorumCert } from '../src/index.js';
import type { ProtocolDefinition } from '@phalanx/interface';
import type { HotStuffConfig } from '../src/index.js';

class OneChainCore extends HotStuffCore {}
{
  // Reach the private rule on purpose: this is the deliberately broken protocol.
  const proto = OneChainCore.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const base = proto['processQC']!;
  proto['processQC'] = function (this: Record<string, unknown>, qc: QuorumCert, from?: string) {
    base.call(this, qc, from);
    const tree = this['tree'] as Map<string, unknown>;
    const node = tree.get(Buffer.from(qc.block).toString('hex'));
    if (node) (this['commit'] as (t: unknown, a: unknown[], q: QuorumCert) => void).call(this, node, [], qc);
  } as unknown as (...a: unknown[]) => unknown;
}

const broken: ProtocolDefinition<HotStuffMessage, HotStuffConfig> = {
  name: 'hotstuff-one-chain',
  codec: hotstuff.codec,
  create: (ctx, config, recovered) => new OneChainCore(ctx, config, recovered),
};

describe('mutation: a one-chain commit rule is caught', () => {
  it('the simulator reports a safety violation for the broken core', () => {
    // Every failing seed is kept: on some the broken core stalls before it forks (it refuses to fork
    // its own log, then waits), and which seeds those are shifts with the real core's schedule.
    const r = runSeeds(createSimulation(broken), { seeds: 30, seedBase: 1_000n, n: 4, faults: 'partition', maxFailures: 30 });
    const checkers = r.failures.flatMap((f) => f.violations.map((v) => v.checker));
    expect(checkers.some((c) => c === 'agreement' || c === 'total-order' || c === 'durability')).toBe(true);
    // The real core passes the very seeds the broken one failed on.
    const real = runSeeds(simulation, { seeds: r.runs, seedBase: 1_000n, n: 4, faults: 'partition' });
    expect(real.failures).toHaveLength(0);
  });
});
