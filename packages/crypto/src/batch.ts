/**
 * BatchVerifier on a pool of worker threads (DESIGN §10: verify off the event loop). A batch is
 * cut into chunks spread over the least-loaded workers; results come back per item, in order.
 *
 * The worker must be a JavaScript file, so the pool loads the compiled `batch-worker.js`: next to
 * this module when running from `dist/`, else `../dist/batch-worker.js` (when this module runs from
 * `src/` under vitest). Build the package first (`pnpm --filter @phalanx/crypto build`; root
 * `pnpm test` builds before testing), or pass `workerScript`.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError, CryptoError } from '@phalanx/interface';
import type { BatchVerifier, VerifyItem } from '@phalanx/interface';
import { packItems } from './batch-protocol.js';
import type { BatchRequest, BatchResponse } from './batch-protocol.js';
import type { Ed25519Backend } from './ed25519.js';

export interface BatchVerifierOptions {
  /** Worker count; default: the number of cores (`os.availableParallelism()`). */
  readonly workers?: number;
  /** Smallest chunk handed to one worker (message overhead dominates below it). Default 16. */
  readonly minChunk?: number;
  /** Ed25519 implementation inside the workers. Default native. */
  readonly ed25519?: Ed25519Backend;
  /** Worker script path or URL, overriding the lookup described above. */
  readonly workerScript?: string | URL;
}

interface Task {
  readonly size: number;
  resolve(results: Uint8Array): void;
  reject(err: Error): void;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  readonly pending: Map<number, Task>;
  /** Items queued on this worker and not answered yet. */
  load: number;
  /** The worker crashed or exited; a fresh one replaces it at the next batch. */
  dead: boolean;
}

/** Locates the compiled worker script (see the module comment). */
export function resolveWorkerScript(): URL {
  for (const rel of ['./batch-worker.js', '../dist/batch-worker.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  throw new CryptoError(
    'batch-worker.js not found next to @phalanx/crypto nor in its dist/: build the package first (pnpm --filter @phalanx/crypto build)',
  );
}

class WorkerBatchVerifier implements BatchVerifier {
  readonly #slots: Slot[] = [];
  readonly #script: string | URL;
  readonly #minChunk: number;
  readonly #ed25519: Ed25519Backend;
  #nextId = 1;
  readonly #inFlight = new Set<Promise<Uint8Array>>();
  #closing: Promise<void> | undefined;

  constructor(options: BatchVerifierOptions) {
    const n = options.workers ?? availableParallelism();
    if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError('workers', `batch verifier needs at least one worker, got ${n}`);
    this.#minChunk = Math.max(1, options.minChunk ?? 16);
    this.#ed25519 = options.ed25519 ?? 'native';
    this.#script = options.workerScript ?? resolveWorkerScript();
    for (let i = 0; i < n; i++) this.#slots.push(this.#spawn(i));
  }

  get workerCount(): number {
    return this.#slots.length;
  }

  #spawn(index: number): Slot {
    const worker = new Worker(this.#script, { workerData: { ed25519: this.#ed25519 } });
    const slot: Slot = { index, worker, pending: new Map(), load: 0, dead: false };
    worker.unref(); // idle workers must not keep the process alive; ref'd while work is pending
    worker.on('message', (res: BatchResponse) => {
      const task = slot.pending.get(res.id);
      if (task === undefined) return;
      slot.pending.delete(res.id);
      slot.load -= task.size;
      if (slot.pending.size === 0) worker.unref();
      if (!(res.results instanceof Uint8Array) || res.results.length !== task.size) {
        task.reject(new CryptoError(`batch verifier worker ${index} answered ${res.results?.length} results for ${task.size} items`));
      } else task.resolve(res.results);
    });
    const fail = (why: string): void => {
      if (slot.dead) return; // 'error' is followed by 'exit': report once
      slot.dead = true;
      const err = new CryptoError(`batch verifier worker ${index} crashed (${why}); its pending batches were not verified`);
      for (const task of slot.pending.values()) task.reject(err);
      slot.pending.clear();
      slot.load = 0;
      // Replaced lazily at the next batch, not here: a script that dies on start-up would
      // otherwise respawn in a tight loop.
    };
    worker.on('error', (e: Error) => fail(e.message));
    worker.on('exit', (code) => fail(`exited with code ${code}`));
    return slot;
  }

  #run(slot: Slot, lengths: Uint32Array, data: Uint8Array, size: number): Promise<Uint8Array> {
    const p = new Promise<Uint8Array>((resolve, reject) => {
      const id = this.#nextId++;
      slot.pending.set(id, { size, resolve, reject });
      slot.load += size;
      slot.worker.ref();
      const req: BatchRequest = { id, lengths, data };
      slot.worker.postMessage(req, [lengths.buffer as ArrayBuffer, data.buffer as ArrayBuffer]);
    });
    this.#inFlight.add(p);
    const forget = (): void => void this.#inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  async verifyBatch(items: readonly VerifyItem[]): Promise<boolean[]> {
    if (this.#closing !== undefined) throw new CryptoError('batch verifier is closed');
    const total = items.length;
    if (total === 0) return [];
    const chunks = Math.max(1, Math.min(this.#slots.length, Math.floor(total / this.#minChunk)));
    const per = Math.ceil(total / chunks);
    for (const [i, s] of this.#slots.entries()) if (s.dead) this.#slots[i] = this.#spawn(i);
    const results: boolean[] = new Array<boolean>(total).fill(false);
    const work: Promise<void>[] = [];
    for (let from = 0; from < total; from += per) {
      const to = Math.min(total, from + per);
      const { lengths, data } = packItems(items, from, to);
      // Least-loaded worker first, so concurrent batches share the pool fairly.
      let slot = this.#slots[0]!;
      for (const s of this.#slots) if (s.load < slot.load) slot = s;
      work.push(
        this.#run(slot, lengths, data, to - from).then((r) => {
          for (let i = 0; i < r.length; i++) results[from + i] = r[i] === 1;
        }),
      );
    }
    await Promise.all(work);
    return results;
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      // Graceful: batches already submitted finish (or fail) before the workers stop.
      const inFlight = [...this.#inFlight];
      this.#closing = Promise.allSettled(inFlight).then(async () => {
        await Promise.all(this.#slots.map((s) => (s.dead ? undefined : s.worker.terminate())));
      });
    }
    return this.#closing;
  }
}

/**
 * Starts a pool of verifier workers. Call `close()` when done. Throws `ConfigError` (path `workers`)
 * for a worker count that is not a positive integer.
 */
export function createBatchVerifier(options: BatchVerifierOptions = {}): BatchVerifier & { readonly workerCount: number } {
  return new WorkerBatchVerifier(options);
}
