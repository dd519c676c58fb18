/**
 * Messages between the batch pool and its workers. Items travel packed into one transferable
 * buffer (no per-item structured-clone objects): for item i, `lengths[3i..3i+2]` are the lengths
 * of its public key, message and signature, laid out back to back in `data`.
 */
import type { VerifyItem } from '@phalanx/interface';

export interface BatchRequest {
  readonly id: number;
  readonly lengths: Uint32Array;
  readonly data: Uint8Array;
}

export interface BatchResponse {
  readonly id: number;
  /** One byte per item: 1 valid, 0 not. */
  readonly results: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Bytes of a field, or empty when a caller passed something that is not bytes (it then verifies false). */
function bytesOf(x: unknown): Uint8Array {
  return x instanceof Uint8Array ? x : EMPTY;
}

export function packItems(items: readonly VerifyItem[], from: number, to: number): { lengths: Uint32Array; data: Uint8Array } {
  const lengths = new Uint32Array((to - from) * 3);
  let total = 0;
  for (let i = from; i < to; i++) {
    const it = items[i];
    const j = (i - from) * 3;
    lengths[j] = bytesOf(it?.publicKey).length;
    lengths[j + 1] = bytesOf(it?.message).length;
    lengths[j + 2] = bytesOf(it?.signature).length;
    total += lengths[j]! + lengths[j + 1]! + lengths[j + 2]!;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (let i = from; i < to; i++) {
    const it = items[i];
    for (const part of [bytesOf(it?.publicKey), bytesOf(it?.message), bytesOf(it?.signature)]) {
      data.set(part, at);
      at += part.length;
    }
  }
  return { lengths, data };
}

export function unpackItems(lengths: Uint32Array, data: Uint8Array): VerifyItem[] {
  const out: VerifyItem[] = [];
  let at = 0;
  for (let j = 0; j + 2 < lengths.length; j += 3) {
    const publicKey = data.subarray(at, (at += lengths[j]!));
    const message = data.subarray(at, (at += lengths[j + 1]!));
    const signature = data.subarray(at, (at += lengths[j + 2]!));
    out.push({ publicKey, message, signature });
  }
  return out;
}
