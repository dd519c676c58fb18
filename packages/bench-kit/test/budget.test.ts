import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { armBudget, BUDGET_ENV, BUDGET_EXIT_CODE } from '../src/index.js';

describe('benchmark budget', () => {
  it('does nothing without a positive budget', () => {
    for (const v of [undefined, '', '0', '-3', 'soon']) expect(armBudget(v === undefined ? {} : { [BUDGET_ENV]: v }, () => undefined)).toBeUndefined();
  });

  it('stops the process with its own exit code when the budget runs out', async () => {
    const stops: number[] = [];
    const t = armBudget({ [BUDGET_ENV]: '0.05' }, (c) => stops.push(c));
    expect(t).toBeDefined();
    await new Promise((r) => setTimeout(r, 150));
    expect(stops).toEqual([BUDGET_EXIT_CODE]);
  });

  it('a real benchmark process that imports bench-kit stops itself, saying why', async () => {
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `await import(${JSON.stringify(entry)}); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, [BUDGET_ENV]: '0.3' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(BUDGET_EXIT_CODE);
    expect(err).toMatch(/budget of 0\.3 s/);
  });
});
