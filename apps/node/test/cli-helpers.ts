import { spawn } from 'node:child_process';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/**
 * Runs the CLI to completion. Asynchronous on purpose: a blocking spawnSync would stall this
 * process's event loop past the replicas' HTTP keep-alive timeout and break pooled connections.
 */
export function phalanx(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Starts a long-running CLI command. */
export function start(args: string[]): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => err };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A base port for `keygen --base-port` whose 4 replicas' ports (base+i libp2p, base+1000+i HTTP,
 * base+2100+i metrics) are free now. Chosen below the kernel's ephemeral range (32768+), where
 * outgoing connections take their local ports and could steal a replica's listen port.
 */
export async function basePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 100) * 100; // 20000 … 29900; metrics up to 32003
    const ports = [0, 1, 2, 3].flatMap((i) => [base + i, base + 1000 + i, base + 2100 + i]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free block of replica ports below the ephemeral range');
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    // A refused connection (fetch's TypeError) means "not yet"; any other error ends the wait.
    const v = await f().catch((err: unknown) => {
      if (err instanceof TypeError) return undefined;
      throw err;
    });
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
