import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../src/cli.js';

// The manifests cannot be applied here (no cluster); at least they must match the CLI they call.
describe('deploy/ matches the CLI', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking untyped YAML documents
  const docs = parseAllDocuments(readFileSync(new URL('../../../deploy/kubernetes/statefulset.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as Record<string, any>);
  const sts = docs.find((d) => d.kind === 'StatefulSet')!;
  const container = sts.spec.template.spec.containers[0];

  it('runs a command and options the CLI has', () => {
    const args: string[] = container.args;
    const cmd = buildProgram().commands.find((c) => c.name() === args[0]);
    expect(cmd, `command ${args[0]}`).toBeDefined();
    const known = new Set(cmd!.options.map((o) => o.long));
    for (const a of args.filter((x) => x.startsWith('--'))) expect(known.has(a), a).toBe(true);
  });

  it('probes the endpoints the node serves and exposes its ports', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.ports.map((p: { containerPort: number }) => p.containerPort).sort()).toEqual([7000, 8080, 9100]);
    expect(sts.spec.replicas).toBe(4);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe(container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/data').name);
  });

  it('the Dockerfile runs the same entry point', () => {
    const dockerfile = readFileSync(new URL('../../../deploy/Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/ENTRYPOINT \[.*"node", "\/opt\/phalanx\/dist\/cli\.js"\]/);
    expect(dockerfile).toMatch(/CMD \["run", "--config", "\/config\/config\.yaml", "--key", "\/keys\/key\.json", "--data-dir", "\/data"\]/);
  });
});
