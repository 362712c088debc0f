import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { defineSink } from '../sdk/index.js';
import { fakeRegistry } from './fake-registry.fixture.js';
import { loadPipelineTexts } from './load.js';

const slowApi = defineSink({
  type: 'slow-api',
  title: 'Slow API',
  summary: 'A quota-bound target',
  config: z.strictObject({}),
  batchDefaults: { count: 2000, maxWait: '5s' },
  delivery: () => 'at-least-once',
  create: () => ({ connect: async () => {}, write: async () => {}, close: async () => {} }),
});
const registry = { ...fakeRegistry, sinks: [...fakeRegistry.sinks, slowApi] };

const load = (sink: string) =>
  loadPipelineTexts(
    [
      {
        file: 'p.yaml',
        text: `name: p\nsource: { type: mqtt, url: 'mqtt://h:1883', topics: [a] }\nsinks:\n  - ${sink}\n`,
      },
    ],
    registry,
    { env: {} },
  );

describe("a sink's own batch defaults", () => {
  it('apply when the pipeline sets no batch, key by key when it sets some', () => {
    expect(load('{ type: slow-api }').pipelines[0]!.sinks[0]!.batch).toEqual({
      count: 2000,
      bytes: 1024 * 1024,
      maxWait: 5000,
    });
    expect(load('{ type: slow-api, batch: { maxWait: 1s } }').pipelines[0]!.sinks[0]!.batch).toMatchObject({
      count: 2000,
      maxWait: 1000,
    });
  });

  it('leave other sinks on the engine defaults, and a wrong batch is still an error', () => {
    expect(
      load("{ type: mqtt, url: 'mqtt://h:1883', topic: t }").pipelines[0]!.sinks[0]!.batch,
    ).toMatchObject({
      count: 500,
      maxWait: 50,
    });
    const bad = load('{ type: slow-api, batch: 12 }');
    expect(bad.issues.length).toBeGreaterThan(0);
  });
});
