import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Lints source text as if it sat at a given path in the monorepo, with the repository's own
// config, to prove the sans-I/O rules bite inside protocol cores (DESIGN §3) and only there.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const eslint = new ESLint({ cwd: repoRoot });

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

const offenders: Array<[string, string]> = [
  ['Date.now()', 'export const t = Date.now();\n'],
  ['new Date()', 'export const t = new Date();\n'],
  ['Math.random()', 'export const r = Math.random();\n'],
  ['setTimeout', 'export function f(): void { setTimeout(() => undefined, 1); }\n'],
  ['setInterval', 'export function f(): void { setInterval(() => undefined, 1); }\n'],
  ['performance.now()', 'export const t = performance.now();\n'],
  ['process', 'export const e = process.env;\n'],
  ['a node: import', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n"],
  ['a bare built-in import', "import { randomBytes } from 'crypto';\nexport const f = randomBytes;\n"],
  ['an async function', 'export async function f(): Promise<void> {}\n'],
];

describe('sans-I/O rules for protocol cores', () => {
  for (const core of ['pbft', 'hotstuff', 'raft', 'tendermint', 'agreement', 'quorum', 'mpc']) {
    it(`fail ${core} on Date.now()`, async () => {
      const found = await problems(`packages/${core}/src/core.ts`, 'export const t = Date.now();\n');
      expect(found.join('\n')).toMatch(/no-restricted-properties: .*sans-I\/O/);
    });
  }

  for (const [what, code] of offenders) {
    it(`reject ${what} inside a core`, async () => {
      const found = await problems('packages/pbft/src/replica.ts', code);
      expect(found.some((m) => /sans-I\/O|synchronous/.test(m))).toBe(true);
    });
  }

  it('leave the runtime and tests free to use clocks and I/O', async () => {
    for (const file of ['packages/runtime/src/replica.ts', 'packages/pbft/test/replica.test.ts']) {
      const found = await problems(file, "import { readFileSync } from 'node:fs';\nexport const t = Date.now() + readFileSync.length;\n");
      expect(found).toEqual([]);
    }
  });

  it('accept a clean core', async () => {
    expect(await problems('packages/pbft/src/ok.ts', 'export function next(view: bigint): bigint { return view + 1n; }\n')).toEqual([]);
  });
});

describe('repository conventions', () => {
  it('forbid an I prefix on interfaces and any in code', async () => {
    const found = await problems('packages/codec/src/x.ts', 'export interface IThing { a: number }\nexport const x: any = 1;\n');
    expect(found.join('\n')).toMatch(/naming-convention/);
    expect(found.join('\n')).toMatch(/no-explicit-any/);
  });
});
