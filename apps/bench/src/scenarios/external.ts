/**
 * Scenarios that need things outside this process: the multi-process libp2p cluster (the
 * `phalanx` CLI from apps/node) and the etcd peer comparison. Each probe answers "can it run?"
 * with a clear reason when not, so the skip path is one readable line in the report.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export type Probe = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: string };

export function which(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { env, encoding: 'utf8' });
  const out = r.stdout?.trim();
  return r.status === 0 && out ? out : undefined;
}

const probed = new Map<string, Probe>();

/** The phalanx node CLI and its testnet command, as apps/node builds them (asked once per run: it starts the CLI). */
export function probePhalanxTestnet(repoRoot: string): Probe {
  const known = probed.get(repoRoot);
  if (known) return known;
  const p = probeCli(repoRoot);
  probed.set(repoRoot, p);
  return p;
}

function probeCli(repoRoot: string): Probe {
  const cli = path.join(repoRoot, 'apps', 'node', 'dist', 'cli.js');
  if (!existsSync(path.join(repoRoot, 'apps', 'node', 'package.json'))) return { ok: false, reason: 'apps/node does not exist' };
  if (!existsSync(cli)) return { ok: false, reason: 'apps/node/dist/cli.js not found (the phalanx CLI is not written or not built yet)' };
  const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8', timeout: 10_000 });
  const text = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  if (!/testnet/.test(text)) return { ok: false, reason: 'the phalanx CLI has no `testnet` command yet' };
  return { ok: true, detail: cli };
}

export function probeEtcd(env: NodeJS.ProcessEnv = process.env): Probe {
  const etcd = which('etcd', env);
  if (!etcd) return { ok: false, reason: 'etcd is not installed (apt-get install etcd-server etcd-client)' };
  return { ok: true, detail: etcd };
}

/** Multi-process clusters over libp2p need the phalanx CLI with its `testnet` command. */
export function multiProcessReadiness(repoRoot: string): Probe {
  return probePhalanxTestnet(repoRoot);
}

/** The etcd comparison needs both sides. */
export function peerReadiness(repoRoot: string, env: NodeJS.ProcessEnv = process.env): Probe {
  const e = probeEtcd(env);
  if (!e.ok) return e;
  const t = probePhalanxTestnet(repoRoot);
  if (!t.ok) return { ok: false, reason: `etcd found at ${e.detail}, but the phalanx side is missing: ${t.reason}` };
  return e;
}
