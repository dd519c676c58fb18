// Runs the protocol compliance suite (packages/compliance/src/protocol, which imports the built
// @phalanx/sim) on the toy fixture: the correct fixture must pass the safety scenarios, and the
// broken one (quorum f+1) must be caught. Imported by path: @phalanx/compliance depends on
// @phalanx/sim, so the sim package cannot depend back on it.
import { describe, it, expect } from 'vitest';
import { runProtocolCompliance, checkProtocolScenario, PROTOCOL_SCENARIOS } from '../../compliance/src/protocol/index.js';
import { toyAdapter, toyDefinition } from './fixtures/toy-bft.js';

// Skipped for the toy: it drops a retried request it already executed instead of answering it, so
// a client whose other replies were lost (replicas that caught up by state transfer after a
// restart commit nothing, so reply nothing, and the Byzantine one forges) waits for ever.
runProtocolCompliance(toyAdapter(), { seeds: 3, protocolName: 'toy-bft', skip: ['n4f1-byzantine-restarts'] });
// A bare definition works too, with config/hooks/capabilities passed as options.
runProtocolCompliance(toyDefinition('toy-bare'), {
  config: {},
  capabilities: { leaderFailover: false },
  hooks: toyAdapter().hooks!,
  only: ['n4f1-happy', 'n4f1-equivocating-leader'],
  seeds: 2,
});

describe('protocol compliance catches the broken fixture', () => {
  const scenario = PROTOCOL_SCENARIOS.find((s) => s.name === 'n4f1-equivocating-leader')!;
  it('n4f1-equivocating-leader fails with a replay line', () => {
    const rep = checkProtocolScenario(toyAdapter({ quorum: 2 }), scenario, 5, { protocolName: 'toy-bft-q2' });
    expect(rep.failures).toHaveLength(1);
    expect(rep.failures[0]!.replay).toMatch(/^pnpm sim --protocol toy-bft-q2 --seed 0x[0-9a-f]+ --faults equivocate$/);
  });
});
