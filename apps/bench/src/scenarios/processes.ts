/**
 * Child processes for the multi-process and peer scenarios: started in their own process group
 * (so a stop reaches everything they spawned), output to a log file, and always stopped — politely
 * first (SIGINT/SIGTERM), then SIGKILL to the group after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Process groups started here and not yet stopped: what a signal to the runner must not leave
 * behind. A group can outlive its leader (a testnet's replicas), so it leaves this set when `stop`
 * is done with it, not when the leader exits.
 */
const live = new Set<number>();
let onSignalInstalled = false;

/**
 * Children run in groups of their own, so a Ctrl-C or a CI `timeout` that signals the runner's group
 * never reaches them: a bench stopped that way left a whole testnet running. On SIGINT or SIGTERM
 * the runner kills every live group, then exits as the signal would have.
 */
function killChildrenOnSignal(): void {
  if (onSignalInstalled) return;
  onSignalInstalled = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      for (const pid of live) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(code);
    });
  }
}

export function startProcess(name: string, command: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; log: string }): Managed {
  const out = createWriteStream(opts.log, { flags: 'a' });
  const child = spawn(command, [...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  killChildrenOnSignal();
  if (child.pid !== undefined) live.add(child.pid);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.on('error', (e) => resolve(`spawn error: ${e.message}`));
  });
  const signalGroup = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  let done = false;
  void exited.then(() => (done = true));
  return {
    name,
    child,
    log: opts.log,
    exited,
    async stop(graceMs = 10_000, signal: NodeJS.Signals = 'SIGINT') {
      if (!done) {
        signalGroup(signal);
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
        if ((await Promise.race([exited, timer])) === 'timeout') signalGroup('SIGKILL');
      }
      const code = await exited;
      if (child.pid !== undefined) live.delete(child.pid);
      out.end();
      return code;
    },
  };
}

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when every port in the list can be bound on 127.0.0.1 right now. */
export async function portsFree(ports: readonly number[]): Promise<boolean> {
  for (const p of ports) {
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (!ok) return false;
  }
  return true;
}
