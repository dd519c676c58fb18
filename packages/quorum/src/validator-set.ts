import { ConfigError } from '@phalanx/interface';
import type { NodeId, Validator, ValidatorSet } from '@phalanx/interface';
import { toHex } from '@phalanx/codec';

export interface ValidatorSetOptions {
  /**
   * Checks one public key at registration (e.g. `validatePublicKey` from @phalanx/crypto, which
   * rejects small-order Ed25519 keys). Throw to refuse the key; the message is kept.
   */
  readonly validateKey?: (publicKey: Uint8Array) => void;
}

/**
 * Builds an immutable validator set. Refuses an empty set, duplicate ids, duplicate keys (one key
 * would vote twice), empty ids, and powers that are not positive safe integers — each as a
 * `ConfigError` naming the offending entry.
 */
export function createValidatorSet(validators: readonly Validator[], options: ValidatorSetOptions = {}): ValidatorSet {
  if (validators.length === 0) throw new ConfigError('validators', 'the validator set is empty');
  const byId = new Map<NodeId, number>();
  const keys = new Map<string, NodeId>();
  let total = 0;
  const frozen: Validator[] = [];
  validators.forEach((v, i) => {
    const path = `validators[${i}]`;
    if (typeof v.id !== 'string' || v.id.length === 0) throw new ConfigError(`${path}.id`, 'must be a non-empty string');
    if (byId.has(v.id)) throw new ConfigError(`${path}.id`, `duplicate validator id "${v.id}"`);
    if (!Number.isSafeInteger(v.power) || v.power < 1) {
      throw new ConfigError(`${path}.power`, `must be a positive integer, got ${String(v.power)}`);
    }
    if (!(v.publicKey instanceof Uint8Array) || v.publicKey.length === 0) {
      throw new ConfigError(`${path}.publicKey`, 'missing public key');
    }
    const hex = toHex(v.publicKey);
    const other = keys.get(hex);
    if (other !== undefined) throw new ConfigError(`${path}.publicKey`, `same key as validator "${other}"`);
    if (options.validateKey) {
      try {
        options.validateKey(v.publicKey);
      } catch (err) {
        throw new ConfigError(`${path}.publicKey`, (err as Error).message, { cause: err });
      }
    }
    total += v.power;
    if (!Number.isSafeInteger(total)) throw new ConfigError(`${path}.power`, 'total voting power overflows');
    byId.set(v.id, i);
    keys.set(hex, v.id);
    frozen.push(Object.freeze({ id: v.id, publicKey: Uint8Array.from(v.publicKey), power: v.power }));
  });
  const list = Object.freeze(frozen);
  return Object.freeze({
    validators: list,
    totalPower: total,
    get: (id: NodeId) => {
      const i = byId.get(id);
      return i === undefined ? undefined : list[i];
    },
    indexOf: (id: NodeId) => byId.get(id) ?? -1,
    has: (id: NodeId) => byId.has(id),
  });
}

/** Sum of the power of the distinct members among `ids` (non-members count for nothing). */
export function powerOf(set: ValidatorSet, ids: Iterable<NodeId>): number {
  let sum = 0;
  const seen = new Set<NodeId>();
  for (const id of ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    sum += set.get(id)?.power ?? 0;
  }
  return sum;
}
