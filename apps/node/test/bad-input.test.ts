import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { basePort, cli, phalanx, start } from './cli-helpers.js';

// Each mistake an operator can make ends in one line on stderr and a non-zero exit, never a stack trace.
const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-bad-'));
const cfg = path.join(dir, 'config.yaml');
const port = await basePort();
await phalanx(['keygen', '--replicas', '4', '--out', dir, '--base-port', String(port)]);

function oneLine(r: { code: number | null; stderr: string }, code: number, message: RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stderr).toMatch(/^phalanx: [^\n]+\n$/);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('bad input to the CLI', () => {
  const servers: net.Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('a missing configuration file', async () => {
    oneLine(await phalanx(['run', '--config', path.join(dir, 'nope.yaml'), '--key', path.join(dir, 'key_r0.json'), '--data-dir', path.join(dir, 'd')]), 2, /nope\.yaml: no such file/);
  });

  it('a malformed configuration', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nchainId: x\nconsensus: { type: paxos }\nnodes: []\n');
    oneLine(await phalanx(['run', '--config', bad, '--key', path.join(dir, 'key_r0.json'), '--data-dir', path.join(dir, 'd')]), 2, /consensus\.type/);
  });

  it('an unreadable or corrupted key file', async () => {
    oneLine(await phalanx(['run', '--config', cfg, '--key', path.join(dir, 'missing.json'), '--data-dir', path.join(dir, 'd')]), 2, /missing\.json/);
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"format":"phalanx-key","version":1', { mode: 0o600 });
    oneLine(await phalanx(['run', '--config', cfg, '--key', broken, '--data-dir', path.join(dir, 'd')]), 2, /broken\.json/);
    const open = path.join(dir, 'open.json');
    writeFileSync(open, '{}');
    chmodSync(open, 0o644);
    oneLine(await phalanx(['run', '--config', cfg, '--key', open, '--data-dir', path.join(dir, 'd')]), 2, /open\.json/);
  });

  it('a key that belongs to no validator', async () => {
    const other = mkdtempSync(path.join(tmpdir(), 'phalanx-other-'));
    await phalanx(['keygen', '--replicas', '1', '--out', other]);
    oneLine(await phalanx(['run', '--config', cfg, '--key', path.join(other, 'key_r0.json'), '--data-dir', path.join(dir, 'd')]), 2, /not a validator/);
  });

  it('a port already in use', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(port + 1000, '127.0.0.1', () => r()));
    servers.push(s);
    const r = start(['run', '--config', cfg, '--key', path.join(dir, 'key_r0.json'), '--data-dir', path.join(dir, 'data_ports')]);
    const code = await r.exited;
    expect(code).toBe(1);
    expect(r.stderr()).toMatch(/address in use/);
    expect(r.stderr()).not.toMatch(/\n\s+at /);
  });

  it('a data directory written by another validator', async () => {
    const data = path.join(dir, 'data_shared');
    const r0 = start(['run', '--config', cfg, '--key', path.join(dir, 'key_r0.json'), '--data-dir', data, '--log-level', 'error']);
    // Wait until r0 has recorded its identity in the directory, then stop it.
    await new Promise((res) => setTimeout(res, 3000));
    r0.child.kill('SIGTERM');
    await r0.exited;
    oneLine(await phalanx(['run', '--config', cfg, '--key', path.join(dir, 'key_r1.json'), '--data-dir', data]), 2, /belongs to validator r0.*opened as validator r1/);
  });

  it('a testnet directory whose configuration is broken is reported, not overwritten', async () => {
    const tn = mkdtempSync(path.join(tmpdir(), 'phalanx-tn-'));
    writeFileSync(path.join(tn, 'config.yaml'), 'version: 1\nnodes: [\n');
    oneLine(await phalanx(['testnet', '--dir', tn, '--duration', '1']), 2, /config\.yaml: not valid YAML/);
    expect(readFileSync(path.join(tn, 'config.yaml'), 'utf8')).toBe('version: 1\nnodes: [\n');
  });

  it('a keygen over an existing configuration and nonsense arguments', async () => {
    oneLine(await phalanx(['keygen', '--replicas', '4', '--out', dir]), 2, /already exists/);
    expect((await phalanx(['keygen', '--replicas', 'many'])).code).toBe(2);
    oneLine(await phalanx(['keygen', '--replicas', '1', '--clients', '5000', '--out', path.join(dir, 'too-many-clients')]), 2, /--clients/);
    expect((await phalanx(['frobnicate'])).code).toBe(2);
  });

  it('a reader that closes stdout early (| head) ends the CLI quietly, without a stack trace', async () => {
    const { spawn } = await import('node:child_process');
    // `status` writes a line per replica between network calls (nothing listens here), so a write
    // fails with EPIPE while the CLI still has work to do.
    const child = spawn(process.execPath, [cli, 'status', '--config', path.join(dir, 'config.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // closed before the CLI has written anything
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(err).toBe('');
    expect(code).toBe(0);
  });

  it('load and BFT reads refuse bad arguments and unknown keys with one line', async () => {
    oneLine(await phalanx(['load', '--config', path.join(dir, 'config.yaml'), '--key', path.join(dir, 'key_r0.json'), '--duration', '1']), 2, /not among the clients/);
    const usage = await phalanx(['load', '--config', path.join(dir, 'config.yaml'), '--key', path.join(dir, 'client_c0.json'), '--window', 'lots']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--window must be a non-negative integer/);
    oneLine(await phalanx(['get', 'k', '--config', path.join(dir, 'config.yaml'), '--key', path.join(dir, 'no-such-key.json')]), 2, /no-such-key/);
  });

  it('a --node that is not in the configuration is bad usage (exit 2), named by the flag', async () => {
    for (const args of [['get', 'k'], ['put', 'k', 'v'], ['del', 'k'], ['status']]) {
      oneLine(await phalanx([...args, '--config', cfg, '--node', 'r9']), 2, /^phalanx: --node: no node "r9" in .*config\.yaml\n$/);
    }
  });
});
