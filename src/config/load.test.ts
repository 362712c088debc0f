import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { clearSecretsForTests, ConfigError, redact } from '../sdk/index.js';
import { fakeRegistry } from './fake-registry.fixture.js';
import { loadPipelineFiles, loadPipelinesOrThrow, loadPipelineTexts, yamlPackage } from './load.js';

const env = { EDGE_PASSWORD: 's3cret-edge', INFLUX_TOKEN: 'tok-123456', HOST: 'broker.local' };
const load = (text: string, file = 'p.yaml', e: Record<string, string | undefined> = env) =>
  loadPipelineTexts([{ file, text }], fakeRegistry, { env: e });

const valid = `name: plant-relay
source:
  type: mqtt
  url: mqtt://\${env:HOST}:1883
  topics: [plant/#]
  password: \${env:EDGE_PASSWORD}
sinks:
  - type: mqtt
    url: mqtt://cloud:1883
    topic: out/x
`;

const tmp = mkdtempSync(join(tmpdir(), 'passerelle-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => clearSecretsForTests());

describe('loadPipelineTexts', () => {
  it('resolves a valid pipeline with defaults and interpolation', () => {
    const { pipelines, issues } = load(valid);
    expect(issues).toEqual([]);
    expect(pipelines).toHaveLength(1);
    const p = pipelines[0]!;
    expect(p.name).toBe('plant-relay');
    expect(p.source).toEqual({
      type: 'mqtt',
      config: {
        url: 'mqtt://broker.local:1883',
        topics: ['plant/#'],
        qos: 1,
        password: 's3cret-edge',
        keepalive: 30_000,
        payload: 'json',
      },
    });
    expect(p.transforms).toEqual([]);
    expect(p.sinks).toEqual([
      {
        type: 'mqtt',
        name: 'mqtt',
        config: { url: 'mqtt://cloud:1883', topic: 'out/x', qos: 1, retain: false },
        batch: { count: 500, bytes: 1024 * 1024, maxWait: 50 },
        retry: { attempts: 10, initialDelay: 200, maxDelay: 30_000 },
        maxQueued: 100_000,
        concurrency: 1,
      },
    ]);
    expect(p.maxUnsettled).toBe(10_000);
    expect(p.deadLetters).toEqual({
      maxAge: 7 * 86_400_000,
      maxCount: 100_000,
      maxMessageBytes: 65_536,
      maxBytes: 67_108_864,
    });
    expect(p.shutdownTimeout).toBe(10_000);
    expect(p.origin).toEqual({ file: 'p.yaml', line: 1 });
    // The password came from a reference into a secret field: it is now redacted everywhere.
    expect(redact('login with s3cret-edge')).toBe('login with ***');
  });

  it('reports a typo key with did-you-mean at the key position', () => {
    const text = valid.replace('  topic: out/x', '  topic: out/x\n    qso: 1');
    const { issues, pipelines } = load(text);
    expect(pipelines).toEqual([]);
    expect(issues).toEqual([
      {
        file: 'p.yaml',
        line: 11,
        column: 5,
        path: 'sinks[0].qso',
        message: "unknown key 'qso' — did you mean 'qos'?",
      },
    ]);
  });

  it('suggests sink engine keys and nested keys too', () => {
    const text = valid.replace('  topic: out/x', '  topic: out/x\n    batchh: {}\n    retry: { atempts: 3 }');
    const { issues } = load(text);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "11:5 sinks[0].batchh: unknown key 'batchh' — did you mean 'batch'?",
      "12:14 sinks[0].retry.atempts: unknown key 'atempts' — did you mean 'attempts'?",
    ]);
  });

  it('reports a wrong type at the value with the literal choices', () => {
    const text = valid.replace('  topic: out/x', '  topic: out/x\n    qos: "1"');
    expect(load(text).issues).toEqual([
      { file: 'p.yaml', line: 11, column: 10, path: 'sinks[0].qos', message: 'expected 0, 1 or 2, got "1"' },
    ]);
  });

  it('reports enum, duration, nested strict object and number problems', () => {
    const text = `name: a
source:
  type: mqtt
  url: u
  topics: [t]
  payload: xml
  keepalive: 5 sec
  tls: { ca: 1, rejectUnauthorised: false }
sinks:
  - type: mqtt
    url: u
    topic: t
    concurrency: 0
`;
    expect(load(text).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '6:12 source.payload: expected "json", "text" or "bytes", got "xml"',
      '7:14 source.keepalive: expected a duration such as 500ms, 5s, 2m, 1h or 7d, got "5 sec"',
      '8:14 source.tls.ca: expected string, got 1',
      "8:17 source.tls.rejectUnauthorised: unknown key 'rejectUnauthorised' — did you mean 'rejectUnauthorized'?",
      '13:18 sinks[0].concurrency: must be greater than 0, got 0',
    ]);
  });

  it('points a missing required key at the parent mapping', () => {
    const text = `name: a
source:
  type: mqtt
  topics: [t]
sinks:
  - type: influxdb
    url: http://influx:8086
    token: \${env:INFLUX_TOKEN}
`;
    expect(load(text).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '3:3 source.url: required key is missing',
      '6:5 sinks[0].database: required key is missing',
    ]);
  });

  it('reports missing top-level keys and an empty sink list', () => {
    expect(
      load('description: x\nsinks: []\n').issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`),
    ).toEqual([
      '1:1 name: required key is missing',
      '1:1 source: required key is missing',
      '2:8 sinks: at least one sink is required',
    ]);
  });

  it('reports a missing environment variable at its node', () => {
    const { issues } = load(valid, 'p.yaml', { HOST: 'h' });
    expect(issues).toEqual([
      {
        file: 'p.yaml',
        line: 6,
        column: 13,
        path: 'source.password',
        message: 'environment variable EDGE_PASSWORD is not set',
      },
    ]);
  });

  it('reports an unresolved reference once, not again as an invalid value', () => {
    // `qos` must be a number: the empty string left by the missing variable would be a second error.
    const text = valid.replace('topics: [plant/#]', 'topics: [plant/#]\n  qos: ${env:QOS}');
    const { issues } = load(text);
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'source.qos: environment variable QOS is not set',
    ]);
  });

  it('refuses a literal secret without printing it', () => {
    const text = valid.replace('${env:EDGE_PASSWORD}', 'hunter2-literal');
    const { issues } = load(text);
    expect(issues).toEqual([
      {
        file: 'p.yaml',
        line: 6,
        column: 13,
        path: 'source.password',
        message: 'secrets must be given as ${env:NAME} or ${file:PATH}, not written in the pipeline file',
      },
    ]);
    expect(JSON.stringify(issues)).not.toContain('hunter2');
  });

  it('finds secrets in transforms and nested objects (tls.passphrase)', () => {
    const text = `name: a
source:
  type: mqtt
  url: u
  topics: [t]
  tls:
    passphrase: literal-pass
transforms:
  - type: pseudonymise
    fields: [id]
    key: 12345
sinks:
  - { type: influxdb, url: u, database: d, token: "\${env:INFLUX_TOKEN}" }
`;
    expect(load(text).issues.map((i) => `${i.line}:${i.column} ${i.path}`)).toEqual([
      '7:17 source.tls.passphrase',
      '11:10 transforms[0].key',
    ]);
  });

  it('reports an unknown type with the available ones and a suggestion', () => {
    const text = valid.replace('  - type: mqtt', '  - type: influx');
    expect(load(text).issues).toEqual([
      {
        file: 'p.yaml',
        line: 8,
        column: 11,
        path: 'sinks[0].type',
        message: 'unknown sink type "influx" — did you mean \'influxdb\'? (available: influxdb, mqtt)',
      },
    ]);
    const noType = load(valid.replace('  type: mqtt\n  url', '  url')).issues;
    expect(noType.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '3:3 source.type: required key is missing (available: mqtt, opcua)',
    ]);
  });

  it('collects every problem of every document', () => {
    const text = `name: first
source: { type: mqtt, url: u, topics: [t] }
sinks: [{ type: mqtt, url: u, topic: t }]
---
name: second
source: { type: opcua, endpoint: e, nodes: [{ nodeId: n, nmae: x }] }
sinks: [{ type: mqtt, url: u }]
---
# an empty document is skipped
---
name: third
source: { type: mqtt, url: u, topics: [t], qos: 0 }
sinks: [{ type: mqtt, url: u, topic: t }]
`;
    const { issues, pipelines } = load(text);
    expect(pipelines.map((p) => [p.name, p.origin?.line])).toEqual([
      ['first', 1],
      ['third', 11],
    ]);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "6:58 source.nodes[0].nmae: unknown key 'nmae' — did you mean 'name'?",
      '7:9 sinks[0].topic: required key is missing',
    ]);
  });

  it('rejects duplicate pipeline names across files, pointing at the second', () => {
    const a =
      'name: dup\nsource: { type: mqtt, url: u, topics: [t] }\nsinks: [{ type: mqtt, url: u, topic: t }]\n';
    const { issues, pipelines } = loadPipelineTexts(
      [
        { file: 'a.yaml', text: a },
        { file: 'b.yaml', text: `# comment\n${a}` },
      ],
      fakeRegistry,
      { env },
    );
    expect(pipelines).toHaveLength(1);
    expect(issues).toEqual([
      {
        file: 'b.yaml',
        line: 2,
        column: 7,
        path: 'name',
        message: "pipeline name 'dup' is already used at a.yaml:1:7",
      },
    ]);
  });

  it('names sinks by type, with the index on collision, and rejects duplicate names', () => {
    const text = `name: a
source: { type: mqtt, url: u, topics: [t] }
sinks:
  - { type: mqtt, url: u, topic: a }
  - { type: mqtt, url: u, topic: b }
  - { type: influxdb, url: u, database: d, token: "\${env:INFLUX_TOKEN}" }
`;
    expect(load(text).pipelines[0]!.sinks.map((s) => s.name)).toEqual(['mqtt-0', 'mqtt-1', 'influxdb']);
    const dup = text
      .replace('topic: b }', 'topic: b, name: x }')
      .replace('topic: a }', 'topic: a, name: x }');
    expect(load(dup).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "5:43 sinks[1].name: sink name 'x' is already used by sinks[0]",
    ]);
  });

  it('reports the first YAML syntax error with a hint, not the cascade that follows it', () => {
    // The InfluxDB README's own example once: `topic[0]` unquoted inside a flow map.
    const text = [
      'name: a',
      'source: { type: mqtt, url: mqtt://b, topics: [t] }',
      'sinks:',
      '  - type: influxdb',
      '    tags: { device: payload.deviceId, site: topic[0] }',
      '    fields: { value: payload.value }',
      '',
    ].join('\n');
    const { issues } = load(text);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 5, path: '' });
    expect(issues[0]!.message).toMatch(/^YAML syntax: Unexpected flow-seq-start at node end; /);
    expect(issues[0]!.message).toContain("quote values that contain [ ] { } , (e.g. site: 'topic[0]')");
    expect(issues[0]!.message).toMatch(/\(\d+ more YAML errors left out: fix this one first\)$/);
    expect(load('name: a\nsource:\n\ttype: mqtt\n').issues[0]!.message).toContain('indent with spaces');
    expect(load('name: a\nsinks:\n  - expression: a: b\n').issues[0]!.message).toContain(
      "quote a value that contains ': '",
    );
  });

  it("reports YAML syntax errors at YAML's own position", () => {
    const text = 'name: a\nsource:\n  type: mqtt\n url: broken\n';
    const { issues } = load(text);
    expect(issues).toEqual([
      {
        file: 'p.yaml',
        line: 4,
        column: 1,
        path: '',
        message:
          'YAML syntax: All mapping items must start at the same column; hint: check the indentation of this line against the lines above it',
      },
    ]);
    const unclosed = load('name: a\nsource: [1, 2\nsinks: 3\n').issues;
    expect(unclosed[0]).toMatchObject({
      line: 3,
      column: 1,
      message: expect.stringContaining('end with a ]'),
    });
    const dupKey = load('name: a\nname: b\n').issues;
    expect(dupKey[0]).toMatchObject({ line: 2, column: 1, message: expect.stringContaining('unique') });
  });

  it('supports anchors and merge keys, and reports empty values', () => {
    const text = `name: a
source: { type: mqtt, url: &url mqtt://b:1883, topics: [t] }
sinks:
  - &out { type: mqtt, url: *url, topic: t, qos: 0 }
  - { <<: *out, name: copy, retain: true }
  - type: influxdb
    url:
    database: d
    token: \${env:INFLUX_TOKEN}
`;
    const { issues } = load(text);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '7:9 sinks[2].url: expected string, got an empty value',
    ]);
    const { pipelines } = load(text.replace('    url:\n', '    url: u\n'));
    expect(pipelines[0]!.sinks.map((s) => [s.name, s.config])).toEqual([
      ['mqtt', { url: 'mqtt://b:1883', topic: 't', qos: 0, retain: false }],
      ['copy', { url: 'mqtt://b:1883', topic: 't', qos: 0, retain: true }],
      ['influxdb', { url: 'u', database: 'd', token: 'tok-123456' }],
    ]);
  });

  it('reports a document that is not a mapping', () => {
    expect(load('- just\n- a list\n').issues).toEqual([
      {
        file: 'p.yaml',
        line: 1,
        column: 1,
        path: '',
        message: 'a pipeline must be a mapping with at least name, source and sinks',
      },
    ]);
    expect(load('# nothing\n').issues).toEqual([
      { file: 'p.yaml', line: 1, column: 1, path: '', message: 'the file holds no pipeline' },
    ]);
  });
});

describe('interpolation', () => {
  it('reads ${file:} relative to the pipeline file, trims one newline, and honours $${', async () => {
    const dir = join(tmp, 'interp');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pw.txt'), 'file-secret-value\n');
    writeFileSync(
      join(dir, 'p.yaml'),
      `name: a
source:
  type: mqtt
  url: "mqtt://\${env:HOST}:1883"
  topics: ["costs $\${env:HOME}", "a$b", "\${env:HOST}/\${env:HOST}"]
  password: \${file:pw.txt}
sinks: [{ type: mqtt, url: u, topic: t }]
`,
    );
    const result = await loadPipelineFiles([join(dir, 'p.yaml')], fakeRegistry, { env });
    expect(result.issues).toEqual([]);
    const config = result.pipelines[0]!.source.config as { url: string; topics: string[]; password: string };
    expect(config.url).toBe('mqtt://broker.local:1883');
    expect(config.topics).toEqual(['costs ${env:HOME}', 'a$b', 'broker.local/broker.local']);
    expect(config.password).toBe('file-secret-value');
    expect(redact('x file-secret-value y')).toBe('x *** y');
  });

  it('reports unreadable files, unknown and unclosed references', () => {
    const text = `name: a
source:
  type: mqtt
  url: \${file:/nonexistent/passerelle}
  topics: ["\${vault:x}", "\${env:HOST"]
sinks: [{ type: mqtt, url: u, topic: t }]
`;
    expect(load(text).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '4:8 source.url: cannot read file /nonexistent/passerelle: no such file',
      '5:12 source.topics[0]: unknown reference "${vault:x}": use ${env:NAME} or ${file:PATH} (write $${ for a literal ${)',
      '5:26 source.topics[1]: unclosed "${" (write "$${" for a literal "${")',
    ]);
  });
});

describe('loadPipelineFiles', () => {
  it('reads folders (sorted, *.yaml and *.yml, no dotfiles) and reports missing paths', async () => {
    const dir = join(tmp, 'folder');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const pipeline = (name: string) =>
      `name: ${name}\nsource: { type: mqtt, url: u, topics: [t] }\nsinks: [{ type: mqtt, url: u, topic: t }]\n`;
    writeFileSync(join(dir, 'b.yml'), pipeline('bee'));
    writeFileSync(join(dir, 'a.yaml'), pipeline('ay'));
    writeFileSync(join(dir, '.hidden.yaml'), pipeline('hidden'));
    writeFileSync(join(dir, 'notes.txt'), 'not yaml');
    writeFileSync(join(dir, 'sub', 'c.yaml'), pipeline('sea'));
    const result = await loadPipelineFiles(
      [dir, join(tmp, 'missing.yaml'), join(dir, 'a.yaml')],
      fakeRegistry,
      { env },
    );
    expect(result.files).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yml')]);
    expect(result.pipelines.map((p) => p.name)).toEqual(['ay', 'bee']);
    expect(result.issues).toEqual([
      { file: join(tmp, 'missing.yaml'), path: '', message: 'no such file or folder' },
    ]);

    const empty = join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    expect((await loadPipelineFiles([empty], fakeRegistry)).issues[0]?.message).toBe(
      'no pipeline files (*.yaml, *.yml) in this folder',
    );
  });

  it('loadPipelinesOrThrow throws a ConfigError with every issue', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(
      file,
      'name: "bad name"\nsource: { type: nope }\nsinks: [{ type: mqtt, url: u, topic: t }]\n',
    );
    const error = await loadPipelinesOrThrow([file], fakeRegistry, { env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => `${i.line}:${i.column} ${i.path}`)).toEqual([
      '1:7 name',
      '2:17 source.type',
    ]);
  });
});

describe('the yaml package (issue 17: an idle service does not keep it)', () => {
  it('is loaded by a parse and dropped by release(); the next parse loads it again', () => {
    yamlPackage.release();
    expect(yamlPackage.loaded()).toBe(false);
    expect(load(valid).issues).toEqual([]);
    expect(yamlPackage.loaded()).toBe(true);
    yamlPackage.release();
    expect(yamlPackage.loaded()).toBe(false);
    expect(load(valid).pipelines).toHaveLength(1);
    expect(yamlPackage.loaded()).toBe(true);
  });

  it('once released, is collectable, and a reload parses as the first load did', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/yaml-release.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', fixture], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(stdout)).toEqual({
      loadedAfterParse: true,
      inCacheAfterRelease: false,
      collected: true,
      sameConfig: true,
      issues: 0,
      loadedAgain: true,
    });
  }, 60_000);
});
