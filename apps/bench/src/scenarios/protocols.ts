/**
 * Which protocol packages the cluster scenarios drive, and how to find their `ProtocolDefinition`.
 * Packages are loaded from their build output by path (not as dependencies of this app) so that a
 * protocol that is missing, unbuilt or broken is skipped with a message instead of breaking
 * `pnpm bench` for everything else.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NodeId, ProtocolDefinition } from '@phalanx/interface';

export interface ProtocolEntry {
  /** Label in the report. */
  readonly name: string;
  /** Folder under packages/. */
  readonly dir: string;
  /** 'bft': n ≥ 3f + 1, a client waits for f + 1 replies; 'cft': n ≥ 2f + 1, one reply. */
  readonly model: 'bft' | 'cft';
  /** Export names tried first; otherwise the first export shaped like a ProtocolDefinition. */
  readonly exportNames: readonly string[];
  /** Protocol config for a benchmark cluster (defaults suit a benign, zero-latency network). */
  readonly config: (ids: readonly NodeId[]) => unknown;
  /** `phalanx testnet --protocol <name>` supports it (multi-process and peer scenarios). */
  readonly testnet: boolean;
}

export const PROTOCOLS: readonly ProtocolEntry[] = [
  {
    name: 'pbft',
    dir: 'pbft',
    model: 'bft',
    exportNames: ['pbft', 'pbftProtocol', 'protocol', 'definition'],
    config: () => ({ chainId: 'phalanx-bench' }),
    testnet: true,
  },
  {
    name: 'hotstuff',
    dir: 'hotstuff',
    model: 'bft',
    exportNames: ['hotstuff', 'hotstuffProtocol', 'hotStuff', 'protocol', 'definition'],
    config: () => ({ chainId: 'phalanx-bench' }),
    testnet: true,
  },
  // Not written yet: listed so they are picked up (or their absence reported) as soon as they land.
  {
    name: 'tendermint',
    dir: 'tendermint',
    model: 'bft',
    exportNames: ['tendermint', 'tendermintProtocol', 'protocol', 'definition'],
    config: () => ({ chainId: 'phalanx-bench' }),
    testnet: false,
  },
  {
    name: 'raft',
    dir: 'raft',
    model: 'cft',
    exportNames: ['raft', 'raftProtocol', 'protocol', 'definition'],
    config: () => ({ chainId: 'phalanx-bench' }),
    testnet: false,
  },
];

export function isProtocolDefinition(v: unknown): v is ProtocolDefinition<unknown, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const codec = o.codec as Record<string, unknown> | undefined;
  return (
    typeof o.name === 'string' &&
    typeof o.create === 'function' &&
    typeof codec === 'object' &&
    codec !== null &&
    typeof codec.encode === 'function' &&
    typeof codec.decode === 'function'
  );
}

export type LoadedProtocol =
  | { readonly ok: true; readonly entry: ProtocolEntry; readonly definition: ProtocolDefinition<unknown, unknown> }
  | { readonly ok: false; readonly entry: ProtocolEntry; readonly reason: string };

/** Picks the definition from a module's exports (named candidates first, then any match). */
export function findDefinition(mod: Record<string, unknown>, names: readonly string[]): ProtocolDefinition<unknown, unknown> | undefined {
  for (const n of names) if (isProtocolDefinition(mod[n])) return mod[n];
  for (const v of Object.values(mod)) if (isProtocolDefinition(v)) return v;
  return undefined;
}

export async function loadProtocol(repoRoot: string, entry: ProtocolEntry): Promise<LoadedProtocol> {
  const pkgDir = path.join(repoRoot, 'packages', entry.dir);
  if (!existsSync(path.join(pkgDir, 'package.json'))) {
    return { ok: false, entry, reason: `packages/${entry.dir} does not exist` };
  }
  const file = path.join(pkgDir, 'dist', 'index.js');
  if (!existsSync(file)) {
    return { ok: false, entry, reason: `packages/${entry.dir}/dist/index.js not found (package not written yet or not built)` };
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, entry, reason: `importing packages/${entry.dir}/dist/index.js failed: ${(e as Error).message}` };
  }
  const def = findDefinition(mod, entry.exportNames);
  if (!def) {
    return { ok: false, entry, reason: `packages/${entry.dir} exports no ProtocolDefinition (looked for ${entry.exportNames.join(', ')} or any {name, codec, create})` };
  }
  return { ok: true, entry, definition: def };
}
