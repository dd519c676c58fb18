/**
 * Named errors of @phalanx/threshold. They extend `CryptoError` (so a caller that only knows the
 * shared contracts still catches them) but carry their own stable `code`.
 */
import { CryptoError } from '@phalanx/interface';

function withCode<T extends CryptoError>(err: T, code: string): T {
  // `code` is readonly on PhalanxError; redefine it the same way storage errors do.
  Object.defineProperty(err, 'code', { value: code });
  return err;
}

/** Fewer than t+1 (valid) shares were offered: the secret or signature is undetermined. */
export class InsufficientSharesError extends CryptoError {
  readonly needed: number;
  readonly actual: number;
  constructor(needed: number, actual: number, what = 'shares') {
    super(`need at least ${needed} ${what}, have ${actual}`);
    this.needed = needed;
    this.actual = actual;
    withCode(this, 'INSUFFICIENT_SHARES');
  }
}

/** Two shares claim the same evaluation point. */
export class DuplicateShareIndexError extends CryptoError {
  readonly index: number;
  constructor(index: number) {
    super(`share index ${index} appears more than once`);
    this.index = index;
    withCode(this, 'DUPLICATE_SHARE_INDEX');
  }
}

/** A share index outside 1..n (index 0 would be the secret itself). */
export class InvalidShareIndexError extends CryptoError {
  readonly index: number;
  constructor(index: number, why: string) {
    super(`share index ${index} is invalid: ${why}`);
    this.index = index;
    withCode(this, 'INVALID_SHARE_INDEX');
  }
}

/** The shares do not lie on one polynomial of degree t (some share is wrong or forged). */
export class InconsistentSharesError extends CryptoError {
  /** Indices of shares found inconsistent, when they can be named. */
  readonly indices: readonly number[];
  constructor(message: string, indices: readonly number[] = []) {
    super(message);
    this.indices = indices;
    withCode(this, 'INCONSISTENT_SHARES');
  }
}
