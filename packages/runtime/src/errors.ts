import { PhalanxError } from '@phalanx/interface';

/**
 * The core or the application broke the replica's contract (e.g. committed heights out of order,
 * `StateMachine.apply` returning another number of results than it got commands): fatal
 * (`hooks.onFatal`). In its own module because both `Replica` and `ReplicatedState` throw it.
 */
export class ReplicaError extends PhalanxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REPLICA', message, options);
  }
}
