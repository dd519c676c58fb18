import type { ClientRequest, NodeId } from '@phalanx/interface';
import { utf8 } from '@phalanx/codec';
import type { Adversary, AdversaryContext, Frame } from './types.js';
import { forgerFor } from './stub-crypto.js';

/**
 * Generic Byzantine behaviours. Each wraps one replica whose honest core keeps running; the
 * adversary decides what actually leaves it. Protocol-specific surgery (re-signing a different
 * proposal) goes through the protocol's `SimHooks`.
 */

const pass = (to: NodeId, bytes: Uint8Array): Frame[] => [{ to, bytes }];

/** Sends nothing at all (a crashed-but-connected replica, or one withholding votes). */
export function silent<M>(): Adversary<M> {
  return { name: 'silent', outbound: () => [] };
}

/** Holds every message back by up to `maxMs` (a slow or strategic replica). */
export function delaying<M>(maxMs = 400): Adversary<M> {
  return {
    name: 'delay',
    outbound: (_m, to, bytes, ctx) => [{ to, bytes, delayMs: ctx.rng.nextInt(maxMs) }],
  };
}

/**
 * Tells half of its peers one thing and the other half another: for each message the protocol's
 * `equivocate` hook can conflict, the second group gets the conflicting version. Without the hook
 * it behaves honestly (and `applicable` is false so a test can say so).
 */
export function equivocating<M>(): Adversary<M> & { groupB?: ReadonlySet<NodeId> } {
  let groupB: Set<NodeId> | undefined;
  return {
    name: 'equivocate',
    outbound(msg, to, bytes, ctx) {
      if (!groupB) {
        const shuffled = ctx.rng.shuffle(ctx.peers);
        // At least one peer in each group; the split is random per run.
        const cut = 1 + ctx.rng.nextInt(Math.max(1, shuffled.length - 1));
        groupB = new Set(shuffled.slice(cut));
      }
      if (!groupB.has(to) || !ctx.hooks?.equivocate) return pass(to, bytes);
      const alt = ctx.hooks.equivocate(msg, ctx.hookContext);
      return alt === undefined ? pass(to, bytes) : [{ to, bytes: ctx.codec.encode(alt) }];
    },
  };
}

/** Sends old frames again (its own and ones it received) next to the current traffic. */
export function replaying<M>(probability = 0.3, keep = 64): Adversary<M> {
  const seen: Uint8Array[] = [];
  let next = 0;
  // A ring of the last `keep` frames seen.
  const remember = (b: Uint8Array): void => {
    if (seen.length < keep) seen.push(b);
    else seen[next] = b;
    next = (next + 1) % keep;
  };
  return {
    name: 'replay',
    outbound(_m, to, bytes, ctx) {
      const out: Frame[] = [{ to, bytes }];
      if (seen.length > 0 && ctx.rng.chance(probability)) out.push({ to, bytes: ctx.rng.pick(seen), delayMs: ctx.rng.nextInt(50) });
      remember(bytes);
      return out;
    },
    inbound(_from, bytes) {
      remember(bytes);
      return true;
    },
  };
}

/** Replaces some frames with random bytes or corrupted copies (bit flips, truncation, padding). */
export function garbage<M>(probability = 0.5): Adversary<M> {
  return {
    name: 'garbage',
    outbound(_m, to, bytes, ctx) {
      if (!ctx.rng.chance(probability)) return pass(to, bytes);
      return [{ to, bytes: corrupt(bytes, ctx) }];
    },
  };
}

export function corrupt<M>(bytes: Uint8Array, ctx: AdversaryContext<M>): Uint8Array {
  const r = ctx.rng;
  if (bytes.length === 0) return r.bytes(1 + r.nextInt(16));
  // Every branch returns bytes that differ from the input.
  switch (r.nextInt(5)) {
    case 0:
      return r.bytes(bytes.length + 1 + r.nextInt(bytes.length + 8));
    case 1:
      return bytes.subarray(0, r.nextInt(bytes.length)).slice();
    case 2: {
      const out = new Uint8Array(bytes.length + 1 + r.nextInt(16));
      out.set(bytes);
      out.set(r.bytes(out.length - bytes.length), bytes.length);
      return out;
    }
    default: {
      // Distinct positions, so two flips never cancel out.
      const out = bytes.slice();
      const flips = Math.min(out.length, 1 + r.nextInt(4));
      const at = new Set<number>();
      while (at.size < flips) at.add(r.nextInt(out.length));
      for (const i of at) out[i]! ^= 1 << r.nextInt(8);
      return out;
    }
  }
}

/**
 * Signs with a key it does not hold: through the protocol's `resign` hook when present (a
 * well-formed message with an invalid signature), else by flipping bits in the frame's tail,
 * where signatures usually sit.
 */
export function forging<M>(probability = 0.5): Adversary<M> {
  return {
    name: 'forge',
    outbound(msg, to, bytes, ctx) {
      if (!ctx.rng.chance(probability)) return pass(to, bytes);
      if (ctx.hooks?.resign) {
        const victim = ctx.rng.pick([ctx.self, ...ctx.peers]);
        const forged = ctx.hooks.resign(msg, { ...ctx.hookContext, signer: forgerFor(victim) });
        if (forged !== undefined) return [{ to, bytes: ctx.codec.encode(forged) }];
      }
      const out = bytes.slice();
      if (out.length > 0) out[out.length - 1 - ctx.rng.nextInt(Math.min(16, out.length))]! ^= 1 << ctx.rng.nextInt(8);
      return [{ to, bytes: out }];
    },
  };
}

/**
 * A leader that orders commands no client sent: every proposal it makes carries one more request
 * in client c0's name (protocol hook `invent`). The same invented request goes to every peer, so
 * a core that does not check client signatures agrees on it and commits it.
 */
export function inventing<M>(): Adversary<M> {
  let invented = 0n;
  const seen = new Map<string, ClientRequest>();
  return {
    name: 'invent',
    outbound(msg, to, bytes, ctx) {
      if (!ctx.hooks?.invent) return pass(to, bytes);
      // One invented request per proposal, whichever peer it is addressed to.
      const key = Buffer.from(bytes).toString('base64');
      let request = seen.get(key);
      if (!request) {
        invented++;
        request = { client: 'c0', seq: 1_000_000_000n + invented, payload: utf8.encode(`invented by ${ctx.self} #${invented}`) };
        seen.set(key, request);
        if (seen.size > 256) seen.delete(seen.keys().next().value!);
      }
      const out = ctx.hooks.invent(msg, request, ctx.hookContext);
      return out === undefined ? pass(to, bytes) : [{ to, bytes: ctx.codec.encode(out) }];
    },
  };
}

/** Sends, next to each message, a copy claimed for a future view/height (protocol hook `future`). */
export function futureMessages<M>(probability = 0.3): Adversary<M> {
  return {
    name: 'future',
    outbound(msg, to, bytes, ctx) {
      const out: Frame[] = [{ to, bytes }];
      if (ctx.hooks?.future && ctx.rng.chance(probability)) {
        const bump = BigInt(1 + ctx.rng.nextInt(ctx.rng.chance(0.2) ? 1_000_000 : 5));
        const f = ctx.hooks.future(msg, bump, ctx.hookContext);
        if (f !== undefined) out.push({ to, bytes: ctx.codec.encode(f) });
      }
      return out;
    },
  };
}

/**
 * Twins (Bano et al. 2020): two instances of the replica share one identity and key. Each twin
 * talks to its own half of the peers and gets a random half of the client requests, so each
 * builds its own history — an honest-looking equivocator.
 */
export function twins<M>(): Adversary<M> {
  let groups: Set<NodeId>[] | undefined;
  const split = (ctx: AdversaryContext<M>): Set<NodeId>[] => {
    if (!groups) {
      const shuffled = ctx.rng.shuffle(ctx.peers);
      const cut = 1 + ctx.rng.nextInt(Math.max(1, shuffled.length - 1));
      groups = [new Set(shuffled.slice(0, cut)), new Set(shuffled.slice(cut))];
    }
    return groups;
  };
  return {
    name: 'twins',
    instances: 2,
    outbound(_m, to, bytes, ctx) {
      return split(ctx)[ctx.instance]!.has(to) ? pass(to, bytes) : [];
    },
    routeRequest(ctx) {
      return [ctx.rng.nextInt(2)];
    },
  };
}

export type AdversaryName = 'silent' | 'delay' | 'equivocate' | 'replay' | 'garbage' | 'forge' | 'future' | 'twins' | 'invent';

export const ADVERSARIES: Readonly<Record<AdversaryName, <M>() => Adversary<M>>> = {
  silent,
  delay: () => delaying(),
  equivocate: equivocating,
  replay: () => replaying(),
  garbage: () => garbage(),
  forge: () => forging(),
  future: () => futureMessages(),
  twins,
  invent: inventing,
};

/** The generic behaviours that need no protocol hook to do something. */
export const GENERIC_ADVERSARIES: readonly AdversaryName[] = ['silent', 'delay', 'replay', 'garbage', 'forge'];
