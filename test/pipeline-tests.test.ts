import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { clearSecretsForTests } from '../src/sdk/index.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'passerelle-pipeline-tests-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => clearSecretsForTests());

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    env: {},
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
  });
  return { code, stdout, stderr };
}

const pipeline = `name: temps
source: { type: mqtt, url: 'mqtt://127.0.0.1:1883', topics: [t/#] }
transforms:
  - type: filter
    expression: payload.t != null
  - type: map
    expression: '($assert(payload.t < 1000, "temperature out of range"); {"f": payload.t * 9 / 5 + 32})'
sinks:
  - type: log
`;

describe('passerelle test', () => {
  it('passes on every example and demo pipeline, each of which has a test file', async () => {
    for (const folder of ['pipelines/examples', 'pipelines/demo']) {
      const names = readdirSync(join(root, folder));
      const pipelines = names.filter((n) => n.endsWith('.yaml') && !n.endsWith('.test.yaml'));
      for (const p of pipelines)
        expect(names, `${folder}/${p} has no pipeline test`).toContain(p.replace(/\.yaml$/, '.test.yaml'));
    }
    const result = await run(['test', join(root, 'pipelines')]);
    expect(result.stdout).toMatch(/\d+ passed, 0 failed/);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('reports a wrong output with the differing path, a missing dead letter, and exits 1', async () => {
    writeFileSync(join(tmp, 'temps.yaml'), pipeline);
    writeFileSync(
      join(tmp, 'temps.test.yaml'),
      `tests:
  - name: converts to fahrenheit
    input: [{ payload: { t: 100 } }]
    output: [{ payload: { f: 212 } }]
  - name: wrong expectation
    input: [{ payload: { t: 0 } }]
    output: [{ payload: { f: 33 } }]
  - name: out of range is dead-lettered
    input: [{ payload: { t: 5000 } }, { payload: { other: 1 } }]
    output: []
    deadLetters: [{ reason: temperature out of range, stage: 'transforms[1]' }]
  - name: expects a dead letter that does not happen
    input: [{ payload: { t: 1 } }]
    output: [{ payload: { f: 33.8 } }]
    deadLetters: [{ reason: nope }]
`,
    );
    const result = await run(['test', tmp]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('✓ converts to fahrenheit');
    expect(result.stdout).toContain('✓ out of range is dead-lettered');
    expect(result.stdout).toContain('✗ wrong expectation');
    expect(result.stdout).toContain('output[0].payload.f: expected 33, got 32');
    expect(result.stdout).toContain('expected a dead letter with reason containing "nope"; got none');
    expect(result.stdout).toContain('2 passed, 2 failed (1 file)');
  });

  it('reports a broken test file and an invalid pipeline readably', async () => {
    const dir = mkdtempSync(join(tmp, 'broken-'));
    writeFileSync(join(dir, 'temps.yaml'), pipeline.replace('type: log', 'type: lgo'));
    writeFileSync(join(dir, 'temps.test.yaml'), `tests:\n  - name: x\n    input: [{ payload: 1 }]\n`);
    writeFileSync(join(dir, 'other.test.yaml'), `tests:\n  - name: x\n    inptu: []\n`);
    const result = await run(['test', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/temps\.yaml:\d+:\d+: sinks\[0\]\.type: .*did you mean 'log'/);
    expect(result.stdout).toMatch(/other\.test\.yaml\n( {2}✗ .*\n)* {2}✗ .*inptu/);
  });

  it('exits 1 when there is nothing to test', async () => {
    const empty = mkdtempSync(join(tmp, 'empty-'));
    const result = await run(['test', empty]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no pipeline tests');
  });
});
