/**
 * The shared protocol compliance suite (@phalanx/compliance over @phalanx/sim): n = 4 and 7,
 * crashes, crash-restart, lossy and partitioned networks, equivocating and Twins leaders, a
 * Byzantine mix and chaos; agreement, validity, total order, durability and liveness after GST.
 * PHALANX_SEEDS=<n> raises the seed count per scenario.
 */
import { runProtocolCompliance } from '@phalanx/compliance';
import { simulation, simulationTwoChain } from '../src/index.js';

runProtocolCompliance(simulation, { protocolName: 'hotstuff' });
// The two-chain (Jolteon) rule over the same scenarios, fewer seeds.
runProtocolCompliance(simulationTwoChain, { protocolName: 'hotstuff', seeds: Number(process.env.PHALANX_SEEDS ?? 6) });
