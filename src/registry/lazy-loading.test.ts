import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from './index.js';
import { allComponents, loadComponent } from './types.js';
import { sourceReadModes } from '../sdk/index.js';

const run = promisify(execFile);

// Client libraries a mqtt -> mqtt relay must not load: each costs megabytes of memory.
const HEAVY = [
  'node-opcua',
  'exceljs',
  '@googleapis/sheets',
  'google-auth-library',
  'bullmq',
  'ioredis',
  'protobufjs',
  '@chirpstack/chirpstack-api',
  'mathjs',
  'aedes',
];

interface Loaded {
  packages: string[];
  files: string[];
  /** `<package>/<file>` of every module loaded from node_modules. */
  packageFiles: string[];
  /** Config schemas (lazySchema) built by the pipeline, then after reading every spec's config. */
  schemasBuilt: number;
  schemasBuiltForAll: number;
  /** Node's built-in modules loaded (`crypto`, `tls`, ...). */
  builtins: string[];
}

// What a plain relay must not load (docs/architecture.md, "Specs, implementations and idle memory"):
// JSONata and RE2 (map, filter), luxon and cron-parser (time zones, schedules), mqtt.js's WebSocket
// and SOCKS transports (ws://, wss://, a proxy).
const NOT_FOR_A_RELAY = [
  'jsonata',
  're2js',
  'luxon',
  'cron-parser',
  'ws',
  'socks',
  'ip-address',
  'smart-buffer',
];
// Our modules `passerelle run` must not load for a relay: other CLI commands, the scheduler, the
// SDK's modules for the sinks that write tables, the payload codecs and fenced writers.
const NOT_FOR_RUN = [
  'src/sdk/columns.ts',
  'src/sdk/codecs/index.ts',
  'src/sdk/leased-writer.ts',
  'src/cli/commands/demo.ts',
  'src/cli/commands/dlq.ts',
  'src/cli/commands/simulate.ts',
  'src/cli/commands/schema.ts',
  'src/cli/commands/connectors.ts',
  'src/cli/commands/validate.ts',
  'src/cli/commands/create.ts',
  'src/cli/commands/test.ts',
  'src/cli/commands/run-once.ts',
  'src/engine/schedule/index.ts',
  'src/engine/schedule/window.ts',
];

/** What a child process loads for mqtt -> `transform` (default: a map) -> mqtt, memory outbox. */
async function loadsOf(transform?: string, scheme?: string): Promise<Loaded> {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-loads-'));
  try {
    const child = fileURLToPath(new URL('./fixtures/mqtt-pipeline.mjs', import.meta.url));
    const { stdout } = await run(process.execPath, [child], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        PASSERELLE_LOADS_FILE: join(dir, 'loads.txt'),
        ...(transform ? { PASSERELLE_LOADS_TRANSFORM: transform } : {}),
        ...(scheme ? { PASSERELLE_LOADS_SCHEME: scheme } : {}),
      },
      maxBuffer: 10_000_000,
    });
    return JSON.parse(stdout) as Loaded;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('lazy loading of component implementations', () => {
  it('a mqtt -> map -> mqtt pipeline with the memory outbox loads mqtt and jsonata, and no other client library', async () => {
    {
      const loaded = await loadsOf();
      // The recording works: what the pipeline uses is there.
      expect(loaded.packages).toEqual(expect.arrayContaining(['mqtt', 'jsonata', 'zod', 'prom-client']));
      expect(loaded.files).toEqual(
        expect.arrayContaining(['connectors/mqtt/index.ts', 'src/transforms/map/index.ts']),
      );
      expect(loaded.packages.filter((name) => HEAVY.includes(name))).toEqual([]);
      // No other component's implementation: a spec.ts that imports its index.ts or its code fails here.
      const implementations = loaded.files.filter(
        (f) =>
          /^(connectors|src\/transforms)\/[^/]+\/index\.ts$/.test(f) && !/\/(mqtt|map)\/index\.ts$/.test(f),
      );
      expect(implementations).toEqual([]);
    }
  }, 120_000);

  it('a plain mqtt -> mqtt relay loads no JSONata, RE2, luxon, cron-parser, WebSocket or SOCKS, nor other commands', async () => {
    const loaded = await loadsOf('none');
    expect(loaded.packages).toEqual(expect.arrayContaining(['mqtt', 'mqtt-packet', 'zod', 'commander']));
    expect(loaded.files).toEqual(
      expect.arrayContaining(['src/cli/commands/run.ts', 'connectors/mqtt/index.ts']),
    );
    expect(loaded.packages.filter((name) => NOT_FOR_A_RELAY.includes(name))).toEqual([]);
    expect(loaded.files.filter((file) => NOT_FOR_RUN.includes(file))).toEqual([]);
    // The specs of the components it names only (src/registry/lazy.ts): no other connector's module
    // (Sparkplug's datatypes, the Google Sheets and Excel column helpers, OPC UA's node ids, ...).
    expect(loaded.files.filter((file) => /(^|\/)([a-z]+-)?spec\.ts$/.test(file))).toEqual([
      'connectors/mqtt/spec.ts',
    ]);
    expect(
      loaded.files.filter((file) => file.startsWith('connectors/') && !file.startsWith('connectors/mqtt/')),
    ).toEqual([]);
    // node:crypto and node:tls load on first use (src/sdk/node-crypto.ts, an mqtts:// connection).
    expect(loaded.builtins).toContain('net');
    expect(loaded.builtins.filter((name) => name === 'crypto' || name === 'tls')).toEqual([]);
    // prom-client's Pushgateway (node's https, zlib), Summary and cluster aggregator (src/engine/prom-client.ts).
    expect(loaded.packageFiles).toContain('prom-client/lib/registry.js');
    expect(
      loaded.packageFiles.filter((f) => /^prom-client\/lib\/(pushgateway|summary|cluster)\.js$/.test(f)),
    ).toEqual([]);
  }, 120_000);

  it("a plain relay builds the config schemas of mqtt only, not every component's", async () => {
    const loaded = await loadsOf('none');
    // connectors/mqtt/spec.ts: the connection shape, the payload encoding, the source and the sink.
    expect(loaded.schemasBuilt).toBeLessThanOrEqual(4);
    // The count works: reading every spec's config builds every schema (about 60 of them).
    expect(loaded.schemasBuiltForAll).toBeGreaterThan(50);
  }, 120_000);

  it('what a relay does not load still loads when a pipeline uses it', async () => {
    // A filter with a regular expression: JSONata and RE2, to validate it and to run it.
    const filter = await loadsOf("{ type: filter, expression: '$contains(meta.`mqtt.topic`, /^in\\//)' }");
    expect(filter.packages).toEqual(expect.arrayContaining(['jsonata', 're2js']));
    // Time zones: generalize's implementation uses luxon.
    const generalize = await loadsOf(
      '{ type: generalize, time: { truncate: hour }, timeZone: Europe/Paris }',
    );
    expect(generalize.packages).toContain('luxon');
    // A WebSocket broker: mqtt.js's own connect() and its ws transport.
    const ws = await loadsOf('none', 'ws');
    expect(ws.packages).toContain('ws');
  }, 240_000);

  it("unit-convert loads mathjs's unit function only, not the bundle that builds every function", async () => {
    const loaded = await loadsOf(
      '{ type: unit-convert, fields: [{ path: payload.t, from: degC, to: degF }] }',
    );
    expect(loaded.packageFiles).toContain('mathjs/lib/cjs/type/unit/Unit.js');
    // Nor every factory (mathjs's factoriesAny.js), with the random functions: seedrandom requires node:crypto.
    expect(loaded.packageFiles).not.toContain('mathjs/lib/cjs/factoriesAny.js');
    expect(loaded.packages).not.toContain('seedrandom');
    expect(
      loaded.packageFiles.filter((f) => f.startsWith('mathjs/lib/cjs/entry/') && /Functions/.test(f)),
    ).toEqual([]);
  }, 120_000);

  it('every built-in spec loads the implementation of its own kind and type', async () => {
    for (const spec of allComponents(builtinRegistry)) {
      expect('create' in spec, `${spec.kind} ${spec.type} is listed as a spec`).toBe(false);
      const definition = await loadComponent(spec);
      expect([definition.kind, definition.type]).toEqual([spec.kind, spec.type]);
      // A source read on a tick only (the InfluxDB query) has a reader instead (loadComponent checks which).
      if (definition.kind === 'source' && !sourceReadModes(definition).includes('stream'))
        expect(typeof definition.createReader).toBe('function');
      else expect(typeof definition.create).toBe('function');
    }
  }, 120_000);
});
