/**
 * Prometheus metrics for one replica (prom-client). Names follow the Prometheus conventions
 * (`_total` counters, `_seconds` histograms) and are checked by `promtool check metrics` in tests.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly consensusRounds = new Counter({ name: 'consensus_rounds_total', help: 'Batches (blocks) committed by this replica.', registers: [this.registry] });
  readonly committedCommands = new Counter({ name: 'consensus_committed_commands_total', help: 'Client commands committed by this replica.', registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'consensus_latency_seconds',
    help: 'Time from a client request reaching this replica to its commit.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly messagesSent = new Counter({ name: 'messages_sent_total', help: 'Protocol messages sent, by peer.', labelNames: ['peer'], registers: [this.registry] });
  readonly messagesReceived = new Counter({ name: 'messages_received_total', help: 'Protocol messages received, by peer.', labelNames: ['peer'], registers: [this.registry] });
  readonly viewChanges = new Counter({ name: 'view_changes_total', help: 'View (leader) changes this replica entered.', registers: [this.registry] });
  readonly misbehaviour = new Counter({
    name: 'peer_misbehaviour_total',
    help: 'Misbehaviour observed, by peer and kind (invalid signature, malformed, equivocation, ...).',
    labelNames: ['peer', 'kind'],
    registers: [this.registry],
  });
  readonly peerStatus = new Gauge({ name: 'peer_isolated', help: '1 when the peer is isolated (its messages dropped), else 0.', labelNames: ['peer'], registers: [this.registry] });
  readonly height = new Gauge({ name: 'consensus_committed_height', help: 'Highest committed height.', registers: [this.registry] });
  readonly view = new Gauge({ name: 'consensus_view', help: 'Current view, term or round.', registers: [this.registry] });
  readonly storageSyncs = new Counter({ name: 'storage_syncs_total', help: 'Durable syncs (fsync groups) completed.', registers: [this.registry] });
  readonly storageSyncSeconds = new Histogram({
    name: 'storage_sync_seconds',
    help: 'Time to make one group of writes durable.',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly storageErrors = new Counter({ name: 'storage_errors_total', help: 'Storage operations that failed.', registers: [this.registry] });
  readonly halted = new Gauge({ name: 'replica_halted', help: '1 once the replica stopped itself (storage failed, or its core broke its contract); it then takes no part until restarted.', registers: [this.registry] });
  readonly timersLate = new Counter({
    name: 'replica_timers_late_total',
    help: 'Protocol timers that fired late after the event loop was blocked, and were re-armed once so the replica reads its messages first.',
    registers: [this.registry],
  });
  readonly preverified = new Counter({
    name: 'signatures_preverified_total',
    help: 'Signatures verified on the worker pool before their message or client frame was stepped, by result.',
    labelNames: ['result'],
    registers: [this.registry],
  });

  constructor(labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    // Not prom-client's collectDefaultMetrics: its nodejs_active_*_total gauges break the
    // Prometheus naming rules that `promtool check metrics` enforces. Memory and CPU suffice here.
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory of the replica process.',
      registers: [this.registry],
      collect() {
        this.set(process.memoryUsage().rss);
      },
    });
    new Gauge({
      name: 'process_cpu_seconds',
      help: 'User plus system CPU time of the replica process.',
      registers: [this.registry],
      collect() {
        const u = process.cpuUsage();
        this.set((u.user + u.system) / 1e6);
      },
    });
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Serves `/metrics` on host:port; resolves once listening (rejects on EADDRINUSE). */
export function serveMetrics(metrics: NodeMetrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    metrics.exposition().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  return listen(server, host, port);
}

export function listen(server: http.Server, host: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
