import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { NodeMetrics, serveMetrics } from '../src/metrics.js';

const promtool = spawnSync('promtool', ['--version']).status === 0;

async function sample(): Promise<string> {
  const m = new NodeMetrics({ node: 'r0' });
  m.consensusRounds.inc(3);
  m.latency.observe(0.002);
  m.messagesSent.inc({ peer: 'r1' }, 5);
  m.messagesReceived.inc({ peer: 'r2' });
  m.viewChanges.inc();
  m.misbehaviour.inc({ peer: 'r3', kind: 'invalid-signature' });
  m.storageSyncSeconds.observe(0.0007);
  return m.exposition();
}

describe('metrics exposition', () => {
  it('exposes the required families', async () => {
    const text = await sample();
    for (const name of ['consensus_rounds_total', 'consensus_latency_seconds_bucket', 'messages_sent_total', 'messages_received_total', 'view_changes_total', 'peer_misbehaviour_total', 'storage_sync_seconds_bucket', 'replica_halted']) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/peer_misbehaviour_total\{peer="r3",kind="invalid-signature",node="r0"\} 1/);
  });

  it.skipIf(!promtool)('passes promtool check metrics', async () => {
    const text = await sample();
    // promtool exits non-zero on errors and prints lint findings; both must be absent.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(out.trim()).toBe('');
  });
  if (!promtool) it('promtool check metrics (skipped: promtool not installed; apt-get install prometheus)', () => undefined);

  it('serves /metrics over HTTP and 404s elsewhere', async () => {
    const m = new NodeMetrics();
    m.viewChanges.inc();
    const server = await serveMetrics(m, '127.0.0.1', 0);
    const { port } = server.address() as { port: number };
    try {
      const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/view_changes_total 1/);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
