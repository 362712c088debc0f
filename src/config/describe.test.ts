import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { duration, secret } from '../sdk/index.js';
import { fakeInfluxSink, fakeMqttSource, fakeRegistry } from './fake-registry.fixture.js';
import { effectiveDelivery, formatDeliveryLine } from './delivery.js';
import {
  describeOptions,
  MAX_DEFAULT_LENGTH,
  renderConfigMarkdown,
  replaceConfigSection,
} from './describe.js';
import { loadPipelineTexts } from './load.js';
import { sinkEngineOptions } from './pipeline-schema.js';

describe('describeOptions', () => {
  it('flattens nested objects and labels durations, secrets, enums and defaults', () => {
    const rows = describeOptions(fakeMqttSource.config);
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(rows.map((r) => r.name)).toEqual([
      'url',
      'topics',
      'qos',
      'username',
      'password',
      'keepalive',
      'payload',
      'tls',
      'tls.ca',
      'tls.cert',
      'tls.key',
      'tls.passphrase',
      'tls.rejectUnauthorized',
      'tls.servername',
    ]);
    expect(byName.url).toMatchObject({ type: 'string', required: true, description: 'Broker URL.' });
    expect(byName.topics).toMatchObject({ type: 'list of string', required: true });
    expect(byName.qos).toMatchObject({ type: '0 | 1 | 2', default: '1', required: false });
    expect(byName.keepalive).toMatchObject({ type: 'duration', default: '30s' });
    expect(byName.payload).toMatchObject({ type: '"json" | "text" | "bytes"', default: '"json"' });
    expect(byName['tls.passphrase']).toMatchObject({ type: 'secret', secret: true, required: false });
    // Inside an optional object nothing is required.
    expect(byName['tls.rejectUnauthorized']).toMatchObject({
      type: 'boolean',
      default: 'true',
      required: false,
    });
    const engine = Object.fromEntries(describeOptions(sinkEngineOptions).map((r) => [r.name, r]));
    expect(engine['batch.count']).toMatchObject({ type: 'integer', default: '500' });
    expect(engine['retry.maxDelay']).toMatchObject({ type: 'duration', default: '30s' });
  });

  it('renders a markdown table and replaces the README section', () => {
    const md = renderConfigMarkdown(fakeInfluxSink);
    expect(md).toBe(
      [
        '| Option | Type | Default | Required | Description |',
        '| --- | --- | --- | --- | --- |',
        '| `type` | `"influxdb"` |  | yes | Selects this sink. |',
        '| `url` | string |  | yes | Server URL. |',
        '| `database` | string |  | yes | Database. |',
        '| `token` | secret |  | yes | API token. Secret: give it as ${env:NAME} or ${file:PATH}. |',
        '',
      ].join('\n'),
    );
    expect(renderConfigMarkdown(fakeMqttSource)).toContain(
      '| `qos` | 0 \\| 1 \\| 2 | `1` |  | MQTT quality of service. |',
    );
    const readme = '# InfluxDB\n\n<!-- config:start -->\nstale\n<!-- config:end -->\n\nMore.\n';
    const updated = replaceConfigSection(readme, fakeInfluxSink);
    expect(updated).toBe(`# InfluxDB\n\n<!-- config:start -->\n\n${md}\n<!-- config:end -->\n\nMore.\n`);
    expect(replaceConfigSection(updated, fakeInfluxSink)).toBe(updated);
    expect(() => replaceConfigSection('# no markers', fakeInfluxSink)).toThrow(/config:start/);
  });
});

describe('describeOptions through wrappers and long defaults', () => {
  it('finds the description and the secret mark under optional, default and pipe wrappers', () => {
    const schema = z.strictObject({
      token: secret('API token.').optional(),
      nested: z.strictObject({ key: secret('Key.').optional().nullable() }).optional(),
      timeout: duration('How long to wait.').prefault('5s').optional(),
      level: z.enum(['a', 'b']).describe('Level.').default('a'),
    });
    const byName = Object.fromEntries(describeOptions(schema).map((r) => [r.name, r]));
    expect(byName.token).toMatchObject({
      type: 'secret',
      secret: true,
      required: false,
      description: 'API token. Secret: give it as ${env:NAME} or ${file:PATH}.',
    });
    expect(byName['nested.key']).toMatchObject({ type: 'secret', secret: true, required: false });
    expect(byName['nested.key']?.description).toMatch(/^Key\. Secret/);
    expect(byName.timeout).toMatchObject({
      type: 'duration',
      default: '5s',
      description: 'How long to wait.',
    });
    expect(byName.level).toMatchObject({ type: '"a" | "b"', default: '"a"', description: 'Level.' });
  });

  it('abbreviates long object and list defaults, and keeps short ones whole', () => {
    const walk = { kind: 'random-walk', min: 16, max: 26, start: 21, step: 0.1, decimals: 2 };
    const schema = z.strictObject({
      fields: z.record(z.string(), z.unknown()).default({
        temperature: walk,
        humidity: walk,
        pressure: walk,
        battery: walk,
        extra1: walk,
        extra2: walk,
      }),
      small: z.record(z.string(), z.number()).default({ a: 1, b: 2 }),
      list: z.array(z.string()).default(Array.from({ length: 30 }, (_, i) => `item-${i}`)),
    });
    const byName = Object.fromEntries(describeOptions(schema).map((r) => [r.name, r]));
    expect(byName.fields?.default).toBe(
      '{"temperature":{…},"humidity":{…},"pressure":{…},"battery":{…},"extra1":{…},…}',
    );
    expect(byName.fields!.default!.length).toBeLessThanOrEqual(MAX_DEFAULT_LENGTH);
    expect(byName.small?.default).toBe('{"a":1,"b":2}');
    expect(byName.list?.default).toMatch(/^\["item-0","item-1",.*,…\]$/);
    expect(byName.list!.default!.length).toBeLessThanOrEqual(MAX_DEFAULT_LENGTH);
  });
});

describe('effectiveDelivery', () => {
  const load = (sourceQos: number, sinkQos: number) => {
    const text = `name: p
source: { type: mqtt, url: u, topics: [t], qos: ${sourceQos} }
sinks:
  - { type: mqtt, url: u, topic: t, qos: ${sinkQos} }
  - { type: influxdb, name: history, url: u, database: d, token: "\${env:T}" }
`;
    const { pipelines, issues } = loadPipelineTexts([{ file: 'p.yaml', text }], fakeRegistry, {
      env: { T: 'token-value' },
    });
    expect(issues).toEqual([]);
    return pipelines[0]!;
  };

  it('is at-least-once only when the source and the sink both are', () => {
    const both = load(1, 1);
    const report = effectiveDelivery(both, fakeRegistry);
    expect(report).toEqual({
      source: { type: 'mqtt', delivery: 'at-least-once' },
      sinks: [
        { name: 'mqtt', type: 'mqtt', delivery: 'at-least-once', idempotent: false },
        { name: 'history', type: 'influxdb', delivery: 'at-least-once', idempotent: true },
      ],
    });
    expect(formatDeliveryLine(both, report)).toBe(
      'p: valid — source mqtt (at-least-once) -> sinks: mqtt at-least-once; history (influxdb) at-least-once, idempotent',
    );
    expect(effectiveDelivery(load(1, 0), fakeRegistry).sinks.map((s) => s.delivery)).toEqual([
      'best-effort',
      'at-least-once',
    ]);
    expect(effectiveDelivery(load(0, 2), fakeRegistry).sinks.map((s) => s.delivery)).toEqual([
      'best-effort',
      'best-effort',
    ]);
  });
});
