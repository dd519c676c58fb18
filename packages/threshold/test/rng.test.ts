import { describe, expect, it } from 'vitest';
import { ArgumentError } from '@phalanx/interface';
import { secureRng, seededRng } from '../src/index.js';

describe('Rng', () => {
  it.each([
    ['secureRng', secureRng()],
    ['seededRng', seededRng('rng-test')],
  ])('%s: nextInt stays below its bound and refuses one that is no integer in (0, 2^32] with ArgumentError', (_name, rng) => {
    for (let i = 0; i < 100; i++) expect(rng.nextInt(3)).toBeLessThan(3);
    expect(rng.nextInt(2 ** 32)).toBeLessThan(2 ** 32);
    for (const n of [0, -1, Number.NaN, 2 ** 32 + 1, 1.5, 2 ** 32 - 0.5]) {
      expect(() => rng.nextInt(n)).toThrow(expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'n', message: `nextInt bound ${n} not an integer in (0, 2^32]` }));
    }
  });
});
