/** Command-line options of `pnpm bench` (apps/bench/dist/cli.js). */
export interface BenchArgs {
  quick: boolean;
  packages: boolean;
  runner: boolean;
  cluster: boolean;
  multiProcess: boolean;
  peer: boolean;
  reportOnly: boolean;
  filters: string[];
  protocols?: string[];
  sizes?: number[];
  /** Signature scheme of the in-process cluster replicas. */
  scheme: 'ed25519' | 'ml-dsa-44' | 'ml-dsa-65' | 'hybrid-ed25519-ml-dsa-44';
  out?: string;
  /** Seconds a package benchmark may run before it is stopped (default 60 quick, 900 full). */
  packageTimeoutSec?: number;
  help: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `Usage: pnpm bench [options]

Runs every package's benchmark (turbo run bench), the runner's own scenarios (codec, the
unreplicated state machine ceiling, in-process clusters per protocol, multi-process clusters,
the etcd comparison), then writes bench-results/latest.{json,md} and bench-results/charts/*.svg.

  --quick              small sizes everywhere (PHALANX_BENCH_QUICK=1); one to two minutes on 2 cores
  --filter <pkg>       only these packages' benchmarks (package names; repeatable)
  --package-timeout <s>  stop a package benchmark after this many seconds (default 60 quick, 900 full)
  --protocols a,b      only these protocols in the cluster scenarios
  --sizes 4,7          replica counts for the in-process clusters
  --scheme <s>         signatures of the in-process replicas: ed25519 (default), ml-dsa-44,
                       ml-dsa-65, hybrid-ed25519-ml-dsa-44
  --no-packages        skip the package benchmarks
  --no-runner          skip the runner's own scenarios
  --no-cluster         skip the in-process cluster scenarios
  --no-multi-process   skip the multi-process (libp2p) cluster scenario
  --no-peer            skip the etcd comparison
  --report-only        only re-aggregate bench-results/parts into the report
  --out <dir>          results directory (default <repo root>/bench-results)
  -h, --help           this text
`;

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchArgs {
  const a: BenchArgs = {
    quick: ['1', 'true', 'yes'].includes((env.PHALANX_BENCH_QUICK ?? '').trim().toLowerCase()),
    packages: true,
    runner: true,
    cluster: true,
    multiProcess: true,
    peer: true,
    reportOnly: false,
    filters: [],
    scheme: 'ed25519',
    help: false,
  };
  const list = (v: string | undefined, flag: string): string[] => {
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const inline = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--': break; // pnpm may forward a separator
      case '--quick': a.quick = true; break;
      case '--no-packages': a.packages = false; break;
      case '--no-runner': a.runner = false; break;
      case '--no-cluster': a.cluster = false; break;
      case '--no-multi-process': a.multiProcess = false; break;
      case '--no-peer': a.peer = false; break;
      case '--report-only': a.reportOnly = true; break;
      case '--filter': a.filters.push(...list(value(), flag)); break;
      case '--protocols': a.protocols = list(value(), flag); break;
      case '--sizes': {
        const sizes = list(value(), flag).map(Number);
        if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) {
          throw new UsageError('--sizes takes replica counts between 1 and 256, e.g. --sizes 4,7');
        }
        a.sizes = sizes;
        break;
      }
      case '--package-timeout': {
        const v = Number(value());
        if (!Number.isFinite(v) || v <= 0) throw new UsageError('--package-timeout takes a number of seconds > 0');
        a.packageTimeoutSec = v;
        break;
      }
      case '--scheme': {
        const v = value();
        const schemes = ['ed25519', 'ml-dsa-44', 'ml-dsa-65', 'hybrid-ed25519-ml-dsa-44'] as const;
        if (!schemes.includes(v as (typeof schemes)[number])) throw new UsageError(`--scheme must be one of ${schemes.join(', ')}`);
        a.scheme = v as (typeof schemes)[number];
        break;
      }
      case '--out': {
        const v = value();
        if (v === undefined) throw new UsageError('--out needs a directory');
        a.out = v;
        break;
      }
      case '-h':
      case '--help': a.help = true; break;
      default: throw new UsageError(`unknown option ${raw}`);
    }
  }
  return a;
}
