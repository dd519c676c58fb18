// @ts-check
// Lint rules for the Phalanx monorepo. The second block enforces DESIGN §3: protocol cores are
// sans-I/O — no clocks, timers, randomness, async or node:* — so a simulator can replay them
// from a seed. Time arrives as inputs, randomness through an injected Rng.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/** Packages whose `src/` is a deterministic protocol core. */
export const corePackages = ['pbft', 'hotstuff', 'raft', 'tendermint', 'agreement', 'quorum', 'mpc'];

const nodeBuiltins = [
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs',
  'fs/promises', 'http', 'http2', 'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'stream', 'timers',
  'timers/promises', 'tls', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib',
];

const why = 'protocol cores are sans-I/O (DESIGN §3): time arrives as inputs, randomness through the injected Rng';

export const sansIoRules = {
  'no-restricted-imports': ['error', {
    paths: nodeBuiltins.map((name) => ({ name, message: `no Node built-ins in a core: ${why}` })),
    patterns: [{ group: ['node:*'], message: `no node:* in a core: ${why}` }],
  }],
  'no-restricted-globals': ['error',
    ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate',
      'queueMicrotask', 'process', 'performance', 'fetch', 'require'].map((name) => ({ name, message: why })),
  ],
  'no-restricted-properties': ['error',
    { object: 'Date', property: 'now', message: why },
    { object: 'Math', property: 'random', message: why },
    { object: 'performance', property: 'now', message: why },
    { object: 'crypto', property: 'getRandomValues', message: why },
    { object: 'crypto', property: 'randomUUID', message: why },
  ],
  'no-restricted-syntax': ['error',
    { selector: "NewExpression[callee.name='Date']", message: `no Date in a core: ${why}` },
    { selector: "CallExpression[callee.name='Date']", message: `no Date in a core: ${why}` },
    { selector: ':function[async=true]', message: `cores are synchronous: ${why}` },
    { selector: 'AwaitExpression', message: `cores are synchronous: ${why}` },
  ],
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/dist-bench/**', '**/node_modules/**', '**/coverage/**', '**/bench-results/**', '**/*.d.ts', '**/*.tmp.*'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/naming-convention': ['error',
        // No `I` prefix on interfaces.
        { selector: 'interface', format: ['PascalCase'], custom: { regex: '^I[A-Z]', match: false } },
      ],
    },
  },
  {
    files: corePackages.map((p) => `packages/${p}/src/**/*.ts`),
    rules: sansIoRules,
  },
  {
    files: ['**/test/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
