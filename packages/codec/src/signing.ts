import { encode } from './cbor.js';
import type { Value } from './cbor.js';

/**
 * The bytes a signature covers: a domain tag and the value, canonically encoded together.
 * The domain ("phalanx/pbft/commit/v1", …) keeps a signature made for one purpose from being
 * replayed as another; `chainId` keeps it from being replayed on another network.
 */
export function signingBytes(domain: string, chainId: string, value: Value): Uint8Array {
  return encode(['phalanx-sig', domain, chainId, value]);
}
