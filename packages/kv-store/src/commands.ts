/**
 * Wire forms of key-value commands and results. Both are canonical CBOR so that every replica
 * produces byte-identical results, which is what lets a client accept f+1 matching replies.
 */
import { DecodeError } from '@phalanx/interface';
import { decode, encode, readBytes, readMap, readString } from '@phalanx/codec';

export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 1024 * 1024;

export type KvCommand =
  | { readonly op: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: 'get'; readonly key: Uint8Array }
  | { readonly op: 'del'; readonly key: Uint8Array };

export type KvResult =
  | { readonly ok: true; readonly value?: Uint8Array }
  | { readonly ok: false; readonly error: string };

export function encodeCommand(c: KvCommand): Uint8Array {
  return encode(c.op === 'put' ? { op: c.op, key: c.key, value: c.value } : { op: c.op, key: c.key });
}

/** Throws `DecodeError` for anything that is not a well-formed, size-bounded command. */
export function decodeCommand(bytes: Uint8Array): KvCommand {
  const m = readMap(decode(bytes, { maxBytes: MAX_KEY_BYTES + MAX_VALUE_BYTES + 64, maxDepth: 2 }), 'command', ['op', 'key', 'value']);
  const op = readString(m.op, 'command.op', 8);
  const key = readBytes(m.key, 'command.key', { max: MAX_KEY_BYTES });
  if (op === 'put') return { op, key, value: readBytes(m.value, 'command.value', { max: MAX_VALUE_BYTES }) };
  if (m.value !== undefined) throw new DecodeError(`command: "${op}" takes no value`);
  if (op === 'get' || op === 'del') return { op, key };
  throw new DecodeError(`command.op: unknown operation "${op}"`);
}

/** The answer to every put and del, encoded once: it is most results under a write load. */
const OK = encode({ ok: true });

export function encodeResult(r: KvResult): Uint8Array {
  if (!r.ok) return encode({ ok: false, error: r.error });
  // A copy, so no caller can change the answer every other command returns.
  return r.value === undefined ? OK.slice() : encode({ ok: true, value: r.value });
}

export function decodeResult(bytes: Uint8Array): KvResult {
  const m = readMap(decode(bytes, { maxBytes: MAX_VALUE_BYTES + 1024, maxDepth: 2 }), 'result', ['ok', 'value', 'error']);
  if (m.ok === true) return m.value === undefined ? { ok: true } : { ok: true, value: readBytes(m.value, 'result.value') };
  if (m.ok === false) return { ok: false, error: readString(m.error, 'result.error', 4096) };
  throw new DecodeError('result.ok: expected boolean');
}
