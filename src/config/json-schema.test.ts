import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineSink } from '../sdk/index.js';
import { fakeRegistry } from './fake-registry.fixture.js';
import { buildPipelineJsonSchema } from './json-schema.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('buildPipelineJsonSchema', () => {
  it('is deterministic and independent of registry order', () => {
    const a = JSON.stringify(buildPipelineJsonSchema(fakeRegistry));
    const reversed = {
      sources: [...fakeRegistry.sources].reverse(),
      sinks: [...fakeRegistry.sinks].reverse(),
      transforms: [...fakeRegistry.transforms].reverse(),
    };
    expect(JSON.stringify(buildPipelineJsonSchema(reversed))).toBe(a);
    expect(JSON.stringify(buildPipelineJsonSchema(fakeRegistry))).toBe(a);
  });

  it('is draft-07 with per-type branches that carry each component options', () => {
    const schema = buildPipelineJsonSchema(fakeRegistry) as Json;
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required).toEqual(['name', 'source', 'sinks']);
    expect(schema.additionalProperties).toBe(false);
    const defs = schema.definitions as Json;
    expect(defs.source.properties.type.enum).toEqual(['mqtt', 'opcua']);
    expect(defs.sink.properties.type.enum).toEqual(['influxdb', 'mqtt']);
    expect(defs.source.allOf[0]).toEqual({
      if: { properties: { type: { const: 'mqtt' } }, required: ['type'] },
      then: { $ref: '#/definitions/source.mqtt' },
    });
    const mqttSource = defs['source.mqtt'];
    expect(mqttSource.additionalProperties).toBe(false);
    expect(mqttSource.required).toEqual(['type', 'url', 'topics']);
    expect(mqttSource.properties.qos).toMatchObject({ enum: [0, 1, 2], default: 1 });
    // Input types: a duration accepts "30s" or milliseconds, and shows its default as written.
    expect(mqttSource.properties.keepalive.default).toBe('30s');
    expect(mqttSource.properties.keepalive.anyOf.map((o: Json) => o.type)).toEqual(['number', 'string']);
    expect(mqttSource.properties.tls.properties.passphrase['x-passerelle-secret']).toBe(true);
    // Sinks get the engine-level keys next to their own.
    const influx = defs['sink.influxdb'];
    expect(Object.keys(influx.properties)).toEqual([
      'type',
      'url',
      'database',
      'token',
      'name',
      'batch',
      'retry',
      'maxQueued',
      'concurrency',
    ]);
    expect(influx.properties.batch.properties.maxWait.default).toBe('50ms');
    expect(defs['transform.pseudonymise'].required).toEqual(['type', 'fields', 'key']);
    expect(schema.properties.shutdownTimeout.default).toBe('10s');
  });

  it('stays valid draft-07 with an empty registry (no empty enum or allOf)', () => {
    const schema = buildPipelineJsonSchema({ sources: [], sinks: [], transforms: [] }) as Json;
    expect(JSON.stringify(schema)).not.toMatch(/"(enum|allOf)":\[\]/);
    expect(schema.definitions.source.properties.type).toMatchObject({ not: {} });
  });

  it('hoists definitions of components that use registered ids', () => {
    const shared = z.strictObject({ host: z.string() }).meta({ id: 'Endpoint' });
    const sink = defineSink({
      type: 'with-ref',
      title: 'T',
      summary: 'S',
      config: z.strictObject({ primary: shared, backup: shared.optional() }),
      delivery: () => 'at-least-once',
      create: () => {
        throw new Error('unused');
      },
    });
    const schema = buildPipelineJsonSchema({ sources: [], transforms: [], sinks: [sink] }) as Json;
    const text = JSON.stringify(schema);
    for (const [, ref] of text.matchAll(/"\$ref":"#\/definitions\/([^"]+)"/g))
      expect(schema.definitions[ref!]).toBeDefined();
    expect(schema.definitions['sink.with-ref.Endpoint']).toMatchObject({
      properties: { host: { type: 'string' } },
    });
  });
});
