import { PhalanxError } from '@phalanx/interface';

/** A value that cannot be encoded (a float, an unsafe integer, a function …): a caller bug. */
export class EncodeError extends PhalanxError {
  constructor(message: string) {
    super('ENCODE', message);
  }
}
