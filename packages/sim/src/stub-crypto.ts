import type { NodeId, Signer, Verifier } from '@phalanx/interface';
import { utf8 } from '@phalanx/codec';

/**
 * Stub signatures for simulation: deterministic and about a hundred times cheaper than Ed25519,
 * so a simulated second measures the protocol, not the crypto. NOT secure — a keyed 128-bit mix,
 * not a signature scheme — but it keeps the property the simulator needs: a node holding only its
 * own `Signer` cannot produce a signature that verifies under another node's public key, and any
 * change to the message or signature makes verification fail.
 *
 * Public keys are `0xF5 || utf8(id)`; the secret behind each key is derived from a per-keyring
 * salt the verifier keeps private. The `scheme` field says 'ed25519' only because the
 * `SignatureScheme` union has no stub member; the 0xF5 tag byte marks these keys as stubs.
 */
export const STUB_KEY_TAG = 0xf5;
const SIG_LEN = 16;

function mixKey(salt: number, id: string): Uint32Array {
  const k = new Uint32Array(4);
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let lane = 0; lane < 4; lane++) {
    for (let i = 0; i < id.length; i++) {
      h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    }
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    k[lane] = h >>> 0;
    h = (h + 0x9e3779b9 + lane) | 0;
  }
  return k;
}

function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Four murmur3-style lanes, each seeded with one key word, over the message bytes. */
function mac(key: Uint32Array, msg: Uint8Array): Uint8Array {
  let a = key[0]! ^ msg.length;
  let b = key[1]!;
  let c = key[2]!;
  let d = key[3]!;
  const n = msg.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const w = msg[i]! | (msg[i + 1]! << 8) | (msg[i + 2]! << 16) | (msg[i + 3]! << 24);
    a = Math.imul(a ^ w, 0xcc9e2d51);
    a = (a << 15) | (a >>> 17);
    b = Math.imul(b ^ a, 0x1b873593) + 0xe6546b64;
    c = Math.imul(c ^ w, 0x85ebca6b);
    c = (c << 13) | (c >>> 19);
    d = Math.imul(d ^ c, 0xc2b2ae35) + 0x52dce729;
  }
  let tail = 0;
  for (let s = 0; i < n; i++, s += 8) tail |= msg[i]! << s;
  a ^= Math.imul(tail, 0xcc9e2d51);
  c ^= Math.imul(tail, 0x85ebca6b);
  const out = new Uint8Array(SIG_LEN);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, fmix(a ^ d));
  dv.setUint32(4, fmix(b ^ a ^ n));
  dv.setUint32(8, fmix(c ^ b));
  dv.setUint32(12, fmix(d ^ c ^ key[0]!));
  return out;
}

export function stubPublicKey(id: NodeId): Uint8Array {
  const body = utf8.encode(id);
  const pk = new Uint8Array(body.length + 1);
  pk[0] = STUB_KEY_TAG;
  pk.set(body, 1);
  return pk;
}

/** Where signers and the verifier come from; the simulator takes any implementation (real crypto too). */
export interface KeyProvider {
  signer(id: NodeId): Signer;
  readonly verifier: Verifier;
}

/** A keyring of stub keys. `salt` keeps keyrings of different runs apart. */
export function createStubKeys(salt = 0x5eed): KeyProvider {
  const keys = new Map<string, Uint32Array>();
  const keyOf = (id: string): Uint32Array => {
    let k = keys.get(id);
    if (!k) {
      k = mixKey(salt, id);
      keys.set(id, k);
    }
    return k;
  };
  const verifier: Verifier = {
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
      if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false;
      if (publicKey.length < 2 || publicKey[0] !== STUB_KEY_TAG || signature.length !== SIG_LEN) return false;
      let id: string;
      try {
        // The codec's strict decoder keeps a leading U+FEFF: a default TextDecoder drops it, so the
        // key of id '\uFEFFr0' read as r0's and r0's signatures verified under a key that is not r0's.
        id = utf8.decode(publicKey.subarray(1));
      } catch {
        return false;
      }
      const expect = mac(keyOf(id), message);
      let diff = 0;
      for (let i = 0; i < SIG_LEN; i++) diff |= expect[i]! ^ signature[i]!;
      return diff === 0;
    },
  };
  return {
    verifier,
    signer(id: NodeId): Signer {
      const key = keyOf(id);
      return { scheme: 'ed25519', publicKey: stubPublicKey(id), sign: (m) => mac(key, m) };
    },
  };
}

/**
 * A signer that claims `id`'s public key but holds the wrong secret: every signature it makes is
 * a forgery the verifier must reject. Used by the forging adversary.
 */
export function forgerFor(id: NodeId, salt = 0xbad): Signer {
  const key = mixKey(salt, `forged:${id}`);
  return { scheme: 'ed25519', publicKey: stubPublicKey(id), sign: (m) => mac(key, m) };
}
