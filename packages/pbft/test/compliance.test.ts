/** The shared protocol compliance suite (@phalanx/compliance) over PBFT's simulation adapter. */
import { runProtocolCompliance } from '@phalanx/compliance';
import type { SimAdapter } from '@phalanx/sim';
import { simulation } from '../src/index.js';

runProtocolCompliance(simulation as unknown as SimAdapter<unknown, unknown>, { protocolName: 'pbft' });
