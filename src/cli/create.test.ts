import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPipelineFiles } from '../config/load.js';
import { builtinRegistry, componentsOf } from '../registry/index.js';
import { main } from './main.js';

/** `passerelle create`: what it writes validates, for every source and sink, with every transform. */

const dir = mkdtempSync(join(tmpdir(), 'passerelle-create-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { env: {}, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

async function validOffline(name: string, text: string): Promise<string[]> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  const result = await loadPipelineFiles([file], builtinRegistry, { env: {}, offline: true });
  return result.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

const sources = componentsOf(builtinRegistry, 'source').map((d) => d.type);
const sinks = componentsOf(builtinRegistry, 'sink').map((d) => d.type);
const transforms = componentsOf(builtinRegistry, 'transform').map((d) => d.type);

describe('passerelle create', () => {
  it('knows the components', () => {
    expect(sources.length).toBeGreaterThanOrEqual(4);
    expect(sinks.length).toBeGreaterThanOrEqual(7);
    expect(transforms.length).toBeGreaterThanOrEqual(10);
  });

  it.each(sources.flatMap((source) => sinks.map((sink) => [source, sink])))(
    'writes a valid pipeline for %s -> %s',
    async (source, sink) => {
      const result = await run(['create', source, sink]);
      expect(result.code, result.stderr).toBe(0);
      expect(await validOffline(`${source}-${sink}`, result.stdout)).toEqual([]);
    },
  );

  it('writes every transform, in order, and several sinks', async () => {
    const result = await run(['create', 'mqtt', 'mqtt,log', ...transforms]);
    expect(result.code, result.stderr).toBe(0);
    expect(await validOffline('all-transforms', result.stdout)).toEqual([]);
    const types = [...result.stdout.matchAll(/^ {2}- type: (\S+)$/gm)].map((m) => m[1]);
    expect(types).toEqual([...transforms, 'mqtt', 'log']);
  });

  it('comments every option: required ones set, the others commented out with their default', async () => {
    const { stdout } = await run(['create', 'mqtt', 'influxdb']);
    expect(stdout).toMatch(/^name: mqtt-to-influxdb$/m);
    expect(stdout).toMatch(/^ {2}# Broker URL[^\n]*\n( {2}#[^\n]*\n)* {2}url: mqtt:\/\/\S+$/m);
    expect(stdout.split('\n').filter((l) => l.length > 100)).toEqual([]);
    expect(stdout).toMatch(/^ {2}# keepalive: 60s$/m);
    expect(stdout).toMatch(/^ {4}# maxPointsPerRequest: 5000$/m);
    // Secrets only as references.
    expect(stdout).toMatch(/^ {2}password: \$\{env:[A-Z_]+\}$/m);
  });

  it('names an unknown type with a suggestion and the known ones; --output refuses to overwrite', async () => {
    const typo = await run(['create', 'mqtt', 'influxd']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('no sink named "influxd" (did you mean influxdb?); sinks: ');
    const file = join(dir, 'out.yaml');
    expect((await run(['create', 'simulator', 'log', '-o', file])).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^name: simulator-to-log$/m);
    const again = await run(['create', 'simulator', 'log', '-o', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists: not overwritten');
  });
});
