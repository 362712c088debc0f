import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './main.js';

/** `validate --offline`: lint pipelines in CI, where the ${env:} and ${file:} they name do not exist. */

const dir = mkdtempSync(join(tmpdir(), 'passerelle-offline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { env: {}, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

const pipeline = (extra = '') =>
  [
    'name: off',
    'source:',
    '  type: mqtt',
    '  url: ${env:EDGE_URL}',
    '  topics: [a/#]',
    '  username: u',
    '  password: ${file:/run/secrets/missing}',
    'sinks:',
    '  - type: mqtt',
    '    url: mqtt://cloud:1883',
    '    topic: x/{{ topic[1] }}',
    '    qos: ${env:QOS}',
    extra,
  ].join('\n');

describe('passerelle validate --offline', () => {
  it('does not resolve references, says which values it left unchecked, and exits 0', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, pipeline());
    const online = await run(['validate', file]);
    expect(online.code).toBe(1);
    expect(online.stderr).toContain('environment variable EDGE_URL is not set');

    const offline = await run(['validate', '--offline', file]);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stderr).toBe(
      `${file}:1:1: warning: checked offline: the values of source.url, source.password, sinks[0].qos come from \${env:} or \${file:} and were not checked\n`,
    );
  });

  it('still reports every problem outside the references', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, pipeline('    retian: true\n'));
    const offline = await run(['validate', '--offline', file]);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/bad\.yaml:13:5: sinks\[0\]\.retian: unknown key/);
    expect(offline.stderr).not.toContain('EDGE_URL');
  });

  it('validates the Kubernetes ConfigMap pipelines off-cluster', async () => {
    const result = await run(['validate', '--offline', 'deploy/kubernetes/base/pipelines']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('plant-relay: valid');
    expect((await run(['validate', 'deploy/kubernetes/base/pipelines'])).code).toBe(1);
  });
});
