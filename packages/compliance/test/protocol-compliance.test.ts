import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@phalanx/interface';
import type { SimAdapter } from '@phalanx/sim';
import { PROTOCOL_SCENARIOS, checkProtocolScenario, runProtocolCompliance } from '../src/index.js';

// Never run: every case below is refused while its arguments are read, before the simulator starts.
const unused = { definition: { name: 'unused' } } as unknown as SimAdapter<unknown, unknown>;
const saved = { seeds: process.env.PHALANX_SEEDS, base: process.env.PHALANX_SEED_BASE };

afterEach(() => {
  for (const [key, value] of [['PHALANX_SEEDS', saved.seeds], ['PHALANX_SEED_BASE', saved.base]] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe('seed settings from the environment', () => {
  it.each(['0', '-3', '1.5', 'ten'])('PHALANX_SEEDS=%s is a ConfigError naming the variable', (v) => {
    process.env.PHALANX_SEEDS = v;
    expect(() => runProtocolCompliance(unused)).toThrow(
      expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'PHALANX_SEEDS', message: `PHALANX_SEEDS: must be a positive integer, got "${v}"` }),
    );
  });

  it.each(['zz', '0xg', '1.5'])('PHALANX_SEED_BASE=%s is a ConfigError naming the variable', (v) => {
    process.env.PHALANX_SEED_BASE = v;
    expect(() => checkProtocolScenario(unused, PROTOCOL_SCENARIOS[0]!, 1)).toThrow(
      expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'PHALANX_SEED_BASE', message: `PHALANX_SEED_BASE: must be 0x… hex, decimal or "random", got "${v}"` }),
    );
  });
});
