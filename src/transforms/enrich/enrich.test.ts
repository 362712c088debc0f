import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMessage, noopMetrics, silentLogger, type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { enrichTransform, enrichTransformConfig } from './index.js';
import { compileTopicPattern } from './topic-pattern.js';

const ctx = {
  pipeline: 'plant',
  component: 'transforms[0]',
  logger: silentLogger,
  countDropped() {},
  async deadLetter() {},
  metrics: noopMetrics,
};
const create = (config: Record<string, unknown>) =>
  enrichTransform.create(enrichTransformConfig.parse(config), ctx);

const T = 1_700_000_000_000;
const reading = (id: string, payload: unknown, topic?: string, meta: Record<string, unknown> = {}): Message =>
  createMessage({
    id,
    payload,
    meta: { ...(topic === undefined ? {} : { 'mqtt.topic': topic }), ...meta },
    time: T,
  });

describeTransformConformance('enrich', {
  neverDrops: 'it adds fields to every message or rejects it',
  create: () =>
    create({ topic: 'site/{site}/line/{line}/#', place: { building: 'B2' }, processingTime: 'at' }),
  good: [reading('a', { t: 1 }, 'site/lyon/line/3/temp'), reading('b', {}, 'site/paris/line/1')],
  bad: [
    reading('c', { t: 1 }, 'other/lyon/line/3'),
    reading('d', 42, 'site/lyon/line/3'),
    reading('e', { t: 1 }),
    reading('f', new Uint8Array([1]), 'site/a/line/b'),
  ],
});

interface Golden {
  name: string;
  config: Record<string, unknown>;
  input: Message;
  /** The output payload and meta, or the reason it is rejected. */
  expected: { payload: unknown; meta: Record<string, unknown> } | { rejected: string };
}

const NOW = Date.UTC(2026, 10, 25, 14, 30, 0, 123);

const golden: Golden[] = [
  {
    name: 'named topic levels into the payload; + and # match without keeping',
    config: { topic: 'site/{site}/+/{line}/#' },
    input: reading('1', { t: 20 }, 'site/lyon/line/3/sensor/temp'),
    expected: {
      payload: { t: 20, site: 'lyon', line: '3' },
      meta: { 'mqtt.topic': 'site/lyon/line/3/sensor/temp' },
    },
  },
  {
    name: '# also matches no level at all',
    config: { topic: 'site/{site}/#' },
    input: reading('1', {}, 'site/lyon'),
    expected: { payload: { site: 'lyon' }, meta: { 'mqtt.topic': 'site/lyon' } },
  },
  {
    name: 'static and templated fields, place and subject tags, processing time (ISO)',
    config: {
      fields: { source: 'gateway-7', limits: { max: 80 }, device: '{{ meta.chirpstack.deviceName }}' },
      place: { site: 'lyon', building: 'B2' },
      subject: { machine: '{{ topic[1] }}' },
      processingTime: 'receivedAt',
    },
    input: reading('1', { t: 1 }, 'press/P-12/temp', { 'chirpstack.deviceName': 'th-04' }),
    expected: {
      payload: {
        t: 1,
        source: 'gateway-7',
        limits: { max: 80 },
        device: 'th-04',
        place: { site: 'lyon', building: 'B2' },
        subject: { machine: 'P-12' },
        receivedAt: '2026-11-25T14:30:00.123Z',
      },
      meta: { 'mqtt.topic': 'press/P-12/temp', 'chirpstack.deviceName': 'th-04' },
    },
  },
  {
    name: 'into the metadata, where the payload can be anything; processing time in ms',
    config: {
      target: 'meta',
      topic: 'site/{plant.site}/#',
      place: { zone: 'north' },
      processingTime: 'plant.at',
      processingTimeFormat: 'epochMs',
    },
    input: reading('1', 21.5, 'site/lyon/t'),
    expected: {
      payload: 21.5,
      meta: { 'mqtt.topic': 'site/lyon/t', 'plant.site': 'lyon', 'place.zone': 'north', 'plant.at': NOW },
    },
  },
  {
    name: 'overwrite: false keeps the message\u2019s own values',
    config: { fields: { site: 'default', unit: 'C' }, overwrite: false },
    input: reading('1', { site: 'own', t: 1 }),
    expected: { payload: { site: 'own', t: 1, unit: 'C' }, meta: {} },
  },
  {
    name: 'overwrite (default) replaces them',
    config: { fields: { site: 'default' } },
    input: reading('1', { site: 'own' }),
    expected: { payload: { site: 'default' }, meta: {} },
  },
  {
    name: 'onTopicMismatch: pass keeps the message and still adds the rest',
    config: { topic: 'site/{site}', fields: { a: 1 }, onTopicMismatch: 'pass' },
    input: reading('1', { t: 1 }, 'elsewhere/x'),
    expected: { payload: { t: 1, a: 1 }, meta: { 'mqtt.topic': 'elsewhere/x' } },
  },
  {
    name: 'a topic that does not match is rejected',
    config: { topic: 'site/{site}/line/{line}' },
    input: reading('1', { t: 1 }, 'site/lyon/line'),
    expected: {
      rejected: 'enrich: the topic "site/lyon/line" does not match the pattern "site/{site}/line/{line}"',
    },
  },
  {
    name: 'no topic at all is rejected',
    config: { topic: 'site/{site}' },
    input: reading('1', { t: 1 }),
    expected: { rejected: 'enrich: the message has no MQTT topic (meta mqtt.topic) to match the pattern' },
  },
  {
    name: 'a payload that is not an object is rejected when the target is the payload',
    config: { fields: { a: 1 } },
    input: reading('1', [1, 2]),
    expected: {
      rejected:
        'enrich: the payload is an array, not an object: use target: meta, or map it into an object first',
    },
  },
  {
    name: 'a template value missing from the message is rejected',
    config: { fields: { device: '{{ payload.device }}' } },
    input: reading('1', { t: 1 }),
    expected: { rejected: 'enrich: template "{{ payload.device }}": payload.device is missing in message 1' },
  },
];

describe('enrich', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => vi.useRealTimers());

  it.each(golden)('$name', ({ config, input, expected }) => {
    const t = create(config);
    const tctx = createTestTransformContext();
    const out = t.apply([input], tctx) as Message[];
    if ('rejected' in expected) {
      expect(out).toEqual([]);
      expect(tctx.rejected.map((r) => r.reason)).toEqual([expected.rejected]);
    } else {
      expect(tctx.rejected).toEqual([]);
      expect(out).toEqual([{ id: input.id, time: input.time, ...expected }]);
    }
  });

  it('refuses a broken config with a clear message', () => {
    const issues = (config: unknown) =>
      enrichTransformConfig.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({})).toEqual([
      ': enrich adds nothing: give fields, place, subject, processingTime or topic',
    ]);
    expect(issues({ topic: 'a/#/b' })).toEqual([
      'topic: "#" must be the last level of the topic pattern "a/#/b"',
    ]);
    expect(issues({ topic: 'a/{x}/{x}' })).toEqual([
      'topic: the name {x} appears twice in the topic pattern "a/{x}/{x}"',
    ]);
    expect(issues({ topic: 'a/b{x}' })?.[0]).toContain('must be literal text, +, #, or a whole {name}');
    expect(issues({ topic: 'a/+/#' })?.[0]).toContain('names no level');
    expect(issues({ fields: { a: '{{ nope }}' } })?.[0]).toContain('unknown name "nope"');
    expect(issues({ fields: { a: 1 }, target: 'file' })?.[0]).toMatch(/^target: /);
    expect(issues({ fields: { a: 1 }, extra: true })?.[0]).toContain('extra');
    for (const example of enrichTransform.examples ?? [])
      expect(enrichTransformConfig.safeParse(example).success).toBe(true);
  });

  it('matches topic patterns level by level', () => {
    const p = compileTopicPattern('a/{x}/+/#');
    expect(p.match('a/1/2')).toEqual({ x: '1' });
    expect(p.match('a/1/2/3/4')).toEqual({ x: '1' });
    expect(p.match('a/1')).toBeUndefined();
    expect(p.match('b/1/2')).toBeUndefined();
    expect(compileTopicPattern('{x}/y').match('/y')).toEqual({ x: '' });
    expect(compileTopicPattern('{x}').match('a/b')).toBeUndefined();
  });

  it('gives each output its own payload: changing one does not change another or the static value', () => {
    const t = create({ fields: { limits: { max: 80 } } });
    const out = t.apply([reading('1', {}), reading('2', {})], createTestTransformContext()) as Message[];
    expect(out[0]!.payload).not.toBe(out[1]!.payload);
    expect(() => ((out[0]!.payload as { limits: { max: number } }).limits.max = 1)).toThrow(TypeError);
  });

  it('copes with a huge topic and a huge payload', () => {
    const t = create({ topic: 'site/{site}/#', fields: { a: 1 } });
    const huge = 'x'.repeat(2_000_000);
    const tctx = createTestTransformContext();
    const out = t.apply(
      [reading('1', { big: huge }, `site/${huge}`), reading('2', {}, `nope/${huge}`)],
      tctx,
    ) as Message[];
    expect((out[0]!.payload as { site: string }).site).toHaveLength(2_000_000);
    expect(tctx.rejected[0]!.reason.length).toBeLessThan(400);
  });
});
