/**
 * Worker-thread entry of the batch verifier pool (see batch.ts). Runs from the compiled
 * `dist/batch-worker.js`; it verifies each packed item with the same Verifier the main thread
 * uses and answers with one byte per item.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { unpackItems } from './batch-protocol.js';
import type { BatchRequest, BatchResponse } from './batch-protocol.js';
import { createVerifier } from './signatures.js';

const port = parentPort;
if (port === null) throw new Error('batch-worker.js must run inside a worker thread');
const backend = (workerData as { ed25519?: 'native' | 'noble' } | undefined)?.ed25519 ?? 'native';
const verifier = createVerifier({ ed25519: backend });

port.on('message', (req: BatchRequest) => {
  const items = unpackItems(req.lengths, req.data);
  const results = new Uint8Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    results[i] = verifier.verify(it.publicKey, it.message, it.signature) ? 1 : 0;
  }
  const res: BatchResponse = { id: req.id, results };
  port.postMessage(res, [results.buffer as ArrayBuffer]);
});
