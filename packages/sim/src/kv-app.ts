import { createHash } from 'node:crypto';
import type { ApplyContext, ClientRequest, StateMachine } from '@phalanx/interface';
import { bytesEqual, encode, decode, readArray, readString, readU64, utf8 } from '@phalanx/codec';
import { DecodeError } from '@phalanx/interface';

/**
 * The reference application the simulator runs on every replica: a key-value store whose
 * commands are order-sensitive (`mix k v` folds v into k's value with a hash, so two replicas
 * that apply the same commands in different orders end with different states) and which
 * executes each (client, seq) at most once, answering later copies with `dup`.
 *
 * Commands (UTF-8 payloads): `mix <key> <value>`, `put <key> <value>`, `get <key>`.
 */
export class KvApp implements StateMachine {
  private readonly kv = new Map<string, string>();
  /**
   * Per client: the last seq executed and its result. Part of the state (and the snapshot), as the
   * runtime keeps results in its replicated client table: a replica that installed this state by
   * state transfer must answer a client's retry of a command it never executed itself.
   */
  private readonly sessions = new Map<string, { seq: bigint; result: string }>();

  /**
   * `authentic` stands in for client signatures (the simulator passes "a client submitted exactly
   * this"): requests failing it are answered `err:auth` and change nothing.
   */
  constructor(private readonly authentic: (r: ClientRequest) => boolean = () => true) {}

  apply(commands: readonly ClientRequest[], _ctx: ApplyContext): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const c of commands) {
      if (!this.authentic(c)) {
        out.push(AUTH);
        continue;
      }
      const last = this.sessions.get(c.client);
      if (last !== undefined && c.seq <= last.seq) {
        out.push(DUP);
        continue;
      }
      const result = this.exec(c.payload);
      this.sessions.set(c.client, { seq: c.seq, result });
      out.push(utf8.encode(result));
    }
    return out;
  }

  /** The client's last executed seq and its result (what a runtime answers a retry with). */
  lastReply(client: string): { seq: bigint; result: string } | undefined {
    return this.sessions.get(client);
  }

  private exec(payload: Uint8Array): string {
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch {
      return 'err:utf8';
    }
    const [op, key, value] = text.split(' ');
    if (key === undefined) return 'err:syntax';
    switch (op) {
      case 'put':
        this.kv.set(key, value ?? '');
        return 'ok';
      case 'mix': {
        const next = fnv(`${this.kv.get(key) ?? ''}|${value ?? ''}`);
        this.kv.set(key, next);
        return next;
      }
      case 'get':
        return this.kv.get(key) ?? '';
      default:
        return 'err:op';
    }
  }

  snapshot(): Uint8Array {
    const kv = [...this.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => [k, v]);
    const sessions = [...this.sessions.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => [k, v.seq, v.result]);
    return encode([kv, sessions]);
  }

  restore(snapshot: Uint8Array): void {
    const top = readArray(decode(snapshot), 'snapshot', 2);
    if (top.length !== 2) throw new DecodeError('snapshot: expected [kv, sessions]');
    const kv = readArray(top[0], 'snapshot.kv');
    const sessions = readArray(top[1], 'snapshot.sessions');
    this.kv.clear();
    this.sessions.clear();
    kv.forEach((e, i) => {
      const pair = readArray(e, `snapshot.kv[${i}]`, 2);
      this.kv.set(readString(pair[0], `snapshot.kv[${i}][0]`), readString(pair[1], `snapshot.kv[${i}][1]`));
    });
    sessions.forEach((e, i) => {
      const t = readArray(e, `snapshot.sessions[${i}]`, 3);
      this.sessions.set(readString(t[0], `snapshot.sessions[${i}][0]`), { seq: readU64(t[1], `snapshot.sessions[${i}][1]`), result: readString(t[2], `snapshot.sessions[${i}][2]`) });
    });
  }
}

const DUP = utf8.encode('dup');
const AUTH = utf8.encode('err:auth');

/** The result bytes the app gives for a (client, seq) it has already executed. */
/** True for the answers that must not reach a client as a fresh result: `dup` and `err:auth`. */
export function isDuplicateResult(result: Uint8Array): boolean {
  return bytesEqual(result, DUP) || bytesEqual(result, AUTH);
}

function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** SHA-256 of the canonical snapshot: the digest reported to cores in `applied`. */
export function stateDigest(snapshot: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(snapshot).digest());
}
