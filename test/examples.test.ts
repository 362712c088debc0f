import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { effectiveDelivery, formatIssue, loadPipelineFiles } from '../src/config/index.js';
import { builtinRegistry } from '../src/registry/index.js';
import { clearSecretsForTests } from '../src/sdk/index.js';

/** The pipeline files shipped in the repository must stay valid as the components evolve. */

const root = fileURLToPath(new URL('../', import.meta.url));
const FOLDERS = ['pipelines/examples', 'pipelines/demo'];
const SCHEMA_COMMENT = '# yaml-language-server: $schema=../pipeline.schema.json';

/** Every `${env:NAME}` the shipped files reference, with a stand-in value. */
const env: Record<string, string> = {
  EDGE_MQTT_PASSWORD: 'edge-password-for-tests',
  PLANT_MQTT_PASSWORD: 'plant-password-for-tests',
  INGEST_MQTT_PASSWORD: 'ingest-password-for-tests',
  MES_MQTT_PASSWORD: 'mes-password-for-tests',
  POD_NAME: 'passerelle-0',
  LOAD_MQTT_URL: 'mqtt://localhost:1883',
  PASSERELLE_DEMO_MQTT_URL: 'mqtt://127.0.0.1:1883',
  PASSERELLE_DEMO_OPCUA_URL: 'opc.tcp://127.0.0.1:4840/passerelle/simulator',
  OPCUA_PASSWORD: 'opcua-password-for-tests',
};

const files = FOLDERS.flatMap((folder) =>
  readdirSync(`${root}${folder}`)
    .filter((name) => /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name))
    .sort()
    .map((name) => `${folder}/${name}`),
);

// The pipeline tests next to the files (docs/pipeline-tests.md) give stand-ins for their references too.
for (const folder of FOLDERS)
  for (const name of readdirSync(`${root}${folder}`).filter((n) => /\.test\.ya?ml$/.test(n))) {
    const spec = parseYaml(readFileSync(`${root}${folder}/${name}`, 'utf8')) as {
      env?: Record<string, string>;
    };
    Object.assign(env, spec.env ?? {});
  }

afterEach(() => clearSecretsForTests());

describe('shipped pipeline files', () => {
  it('exist', () => {
    expect(files).toContain('pipelines/examples/plant-relay.yaml');
    expect(files.filter((f) => f.startsWith('pipelines/examples/')).length).toBeGreaterThanOrEqual(3);
    expect(files.filter((f) => f.startsWith('pipelines/demo/')).length).toBeGreaterThanOrEqual(1);
  });

  it.each(files)('%s points editors at the JSON Schema on its first line', (file) => {
    const firstLine = readFileSync(`${root}${file}`, 'utf8').split('\n')[0];
    expect(firstLine, `${file} must start with: ${SCHEMA_COMMENT}`).toBe(SCHEMA_COMMENT);
  });

  it.each(files)('%s is valid with the built-in components', async (file) => {
    const result = await loadPipelineFiles([`${root}${file}`], builtinRegistry, { env });
    expect(result.issues.map(formatIssue)).toEqual([]);
    expect(result.pipelines.length).toBeGreaterThan(0);
  });

  it('are valid together (pipeline names are unique across files)', async () => {
    const result = await loadPipelineFiles(
      FOLDERS.map((f) => `${root}${f}`),
      builtinRegistry,
      { env },
    );
    expect(result.issues.map(formatIssue)).toEqual([]);
    expect(result.pipelines.length).toBe(files.length);
  });

  it('every ${env:NAME} they reference is set by this test', () => {
    for (const file of files) {
      for (const [, name] of readFileSync(`${root}${file}`, 'utf8').matchAll(/\$\{env:([A-Za-z0-9_]+)\}/g)) {
        expect(Object.keys(env), `${file} references ${name}`).toContain(name);
      }
    }
  });
});

describe('delivery guarantees of the examples', () => {
  it('passerelle validate prints at-least-once for plant-relay', async () => {
    let stdout = '';
    let stderr = '';
    const code = await main(['validate', `${root}pipelines/examples/plant-relay.yaml`], {
      registry: builtinRegistry,
      env,
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe('plant-relay: valid — source mqtt (at-least-once) -> sinks: mqtt at-least-once\n');
    expect(stdout).not.toContain(env.EDGE_MQTT_PASSWORD);
  });

  it('every example states, in its header comment, the guarantee passerelle computes for it', async () => {
    const result = await loadPipelineFiles([`${root}pipelines/examples`], builtinRegistry, { env });
    expect(result.pipelines.length).toBeGreaterThanOrEqual(10);
    for (const p of result.pipelines) {
      const file = p.origin?.file ?? '';
      const header = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('#'))
        .join('\n')
        .toLowerCase()
        .replace(/at least once/g, 'at-least-once')
        .replace(/\s+/g, ' ');
      for (const { delivery } of effectiveDelivery(p, builtinRegistry).sinks)
        expect(header, `${file} (${p.name}) must say it is ${delivery}`).toContain(delivery);
    }
  });
});
