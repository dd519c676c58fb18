/**
 * The node's HTTP JSON API, beside the libp2p client protocol:
 *   PUT /kv/<key>  (body: the value)   GET /kv/<key>   DELETE /kv/<key>
 *   GET /status[?digest=1]    GET /healthz (process up)   GET /readyz (connected to a quorum and serving)
 * Keys are URL path segments (UTF-8); values are raw bodies (up to 1 MiB). Every operation,
 * reads included, goes through consensus, so answers are linearizable.
 */
import http from 'node:http';
import { encodeCommand, decodeResult, isStoreFull, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '@phalanx/kv-store';
import type { KvCommand } from '@phalanx/kv-store';
import { utf8 } from '@phalanx/codec';
import { PhalanxError } from '@phalanx/interface';
import { ClientRejectedError, ClientResultExpiredError, ClientTimeoutError } from '@phalanx/runtime';
import { LocalBusyError } from './local-clients.js';
import { SeqReservationError } from './seq-reservation.js';
import { listen } from './metrics.js';

/** The API's own deadline passed; whether the command was handed to the replica is not known here. */
class HttpDeadlineError extends PhalanxError {
  constructor(ms: number) {
    super('HTTP_DEADLINE', `not committed within ${ms} ms; the outcome is unknown (it may still commit): read before you retry`);
  }
}

/** A request body over the limit: the request is at fault (413), whatever else throws a RangeError. */
class BodyTooLargeError extends PhalanxError {
  constructor(limit: number) {
    super('HTTP_BODY_TOO_LARGE', `body larger than ${limit} bytes`);
  }
}

export interface NodeHandle {
  /** Orders `payload` through consensus and resolves with this replica's result bytes. */
  submit(payload: Uint8Array): Promise<Uint8Array>;
  status(): Record<string, unknown>;
  /**
   * The digest of the whole replicated state and the height it is of: O(state) to compute, taken
   * in slices by the replica (`Replica.digestState`) so its event loop keeps running meanwhile.
   */
  stateDigest(): Promise<{ height: bigint; digest: Uint8Array }>;
  /** Serving: started, recovered, and connected to enough peers to make progress. */
  isReady(): boolean;
  /** The commit certificate of a recent height, in the file format `verify-certificate` reads. */
  certificate?(height: bigint): unknown;
}

const json = (res: http.ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(
    JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
  );
};

function readBody(req: http.IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        // Not `req.destroy()`: that reset the connection before the 413 could go out, and the
        // caller saw "connection reset" instead of why. The answer closes the connection
        // (`connection: close`), so the rest of the upload is not read.
        req.off('data', onData);
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

export function createHttpApi(node: NodeHandle, opts: { timeoutMs?: number } = {}): http.Server {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname === '/healthz') return json(res, 200, { ok: true });
    if (url.pathname === '/readyz') return json(res, node.isReady() ? 200 : 503, { ready: node.isReady() });
    // The state digest snapshots the whole state: only on request, not on every monitoring poll.
    if (url.pathname === '/status') {
      if (url.searchParams.get('digest') !== '1') return json(res, 200, node.status());
      node.stateDigest().then(
        (d) => json(res, 200, { ...node.status(), stateDigestHeight: d.height, stateDigest: Buffer.from(d.digest).toString('hex') }),
        (err: Error) => json(res, 503, { error: `state digest unavailable: ${err.message}` }),
      );
      return;
    }
    if (url.pathname.startsWith('/certificates/')) {
      const h = url.pathname.slice('/certificates/'.length);
      const cert = /^\d{1,20}$/.test(h) ? node.certificate?.(BigInt(h)) : undefined;
      return cert ? json(res, 200, cert) : json(res, 404, { error: 'no certificate for that height here (only recent heights this replica answered are kept)' });
    }
    if (!url.pathname.startsWith('/kv/')) return json(res, 404, { error: 'not found' });
    let key: Uint8Array;
    try {
      key = utf8.encode(decodeURIComponent(url.pathname.slice(4)));
    } catch {
      return json(res, 400, { error: 'key is not valid percent-encoding' });
    }
    if (key.length === 0 || key.length > MAX_KEY_BYTES) return json(res, 400, { error: `key must be 1..${MAX_KEY_BYTES} bytes` });
    const run = async (): Promise<void> => {
      let cmd: KvCommand;
      if (req.method === 'PUT' || req.method === 'POST') cmd = { op: 'put', key, value: await readBody(req, MAX_VALUE_BYTES) };
      else if (req.method === 'GET') cmd = { op: 'get', key };
      else if (req.method === 'DELETE') cmd = { op: 'del', key };
      else return json(res, 405, { error: `method ${req.method ?? ''} not allowed` });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpDeadlineError(timeoutMs)), timeoutMs);
      });
      try {
        const result = decodeResult(await Promise.race([node.submit(encodeCommand(cmd)), timeout]));
        // A full store is no fault of the request (507, RFC 4918 §11.5); any other refusal is (400).
        if (!result.ok) return json(res, isStoreFull(result) ? 507 : 400, { error: result.error });
        if (cmd.op === 'get') {
          if (result.value === undefined) return json(res, 404, { error: 'no such key' });
          res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(result.value));
          return;
        }
        return json(res, 200, { ok: true });
      } finally {
        clearTimeout(timer);
      }
    };
    run().catch((err: Error) => {
      // Too many commands in flight: come back shortly. Refused by the replica: the request is at
      // fault. Deadline passed: the outcome is unknown (a command already handed to the replica
      // may still commit), so 504, not a failure the caller could safely retry. Anything else
      // (the node stopping): unavailable.
      if (err instanceof LocalBusyError) return json(res, 503, { error: err.message }, { 'retry-after': '1' });
      if (err instanceof BodyTooLargeError) return json(res, 413, { error: err.message }, { connection: 'close' });
      if (err instanceof ClientRejectedError && err.reason === 'too-large') return json(res, 413, { error: err.message });
      if (err instanceof ClientRejectedError) return json(res, 400, { error: err.message });
      if (err instanceof ClientTimeoutError || err instanceof HttpDeadlineError) return json(res, 504, { error: err.message });
      // Executed, but the replica no longer holds the result: the write happened; do not repeat it blindly.
      if (err instanceof ClientResultExpiredError) return json(res, 500, { error: err.message });
      // The node cannot number its commands safely until an operator repairs its reservation file.
      if (err instanceof SeqReservationError) return json(res, 500, { error: err.message });
      return json(res, 503, { error: err.message });
    });
  });
}

export function serveHttpApi(node: NodeHandle, host: string, port: number): Promise<http.Server> {
  return listen(createHttpApi(node), host, port);
}
