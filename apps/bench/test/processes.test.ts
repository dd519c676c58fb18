import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fixture = fileURLToPath(new URL('./signal-fixture.ts', import.meta.url));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('managed child processes', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`are killed when the runner gets ${signal} (they run in process groups of their own)`, async () => {
      const runner = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      runner.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 20_000;
      while (!out.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const pid = Number(out.trim());
      expect(pid).toBeGreaterThan(0);
      expect(alive(pid)).toBe(true);
      const exited = once(runner, 'exit');
      runner.kill(signal);
      const [exitCode] = (await exited) as [number | null];
      expect(exitCode).toBe(code);
      // SIGKILL is sent before the runner exits; the kernel may take a moment to reap the child.
      const until = Date.now() + 5_000;
      while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const left = alive(pid);
      if (left) process.kill(pid, 'SIGKILL');
      rmSync(join(tmpdir(), `phalanx-signal-fixture-${runner.pid}.log`), { force: true });
      expect(left).toBe(false);
    }, 30_000);
  }
});
