import fc from 'fast-check';
import * as opcua from 'node-opcua';
import { describe, expect, it } from 'vitest';
import { EventError, parseEvent } from '../../connectors/chirpstack/events.js';
import * as chirpstack from '../../connectors/chirpstack/fixtures.js';
import { decodeProtobufEvent } from '../../connectors/chirpstack/protobuf.js';
import { parseBody } from '../../connectors/chirpstack/source.js';
import type { ChirpstackEvent } from '../../connectors/chirpstack/spec.js';
import { decodePayload, encodePayload } from '../../connectors/mqtt/payload.js';
import { CoercionError, jsonToVariant, variantToJson } from '../../connectors/opcua/values.js';
import { compileTemplate, createMessage, TemplateError, type Message } from '../../src/sdk/index.js';
import {
  BYTE_LAYOUT_NUMBER_TYPES,
  byteLayoutSchema,
  CodecError,
  decodeByteLayout,
  decodeCayenneLpp,
} from '../../src/sdk/codecs/index.js';
import { DecodeTransform, decodeTransformConfig } from '../../src/transforms/decode/index.js';
import { FilterTransform, filterTransformConfig } from '../../src/transforms/filter/index.js';
import { MapTransform, mapTransformConfig } from '../../src/transforms/map/index.js';
import { createTestTransformContext } from '../conformance/transform.js';
import { BLOCK_LIMIT_MS, measureBlocking, measureRepeatableBlocking } from '../harness/event-loop.js';

/**
 * Random and hostile input through every decoder and parser that sees what devices, brokers and
 * servers send. Each one may succeed or refuse the input with its own error, but never hold the
 * event loop for more than BLOCK_LIMIT_MS (CPU time) on one message.
 */

const RUNS = 300;

/** Runs one decode, checks the time it held the loop, and that a failure is the decoder's own error. */
async function bounded(what: string, work: () => unknown, expected: (new (...a: never[]) => Error)[] = []) {
  const { blockedMs, error } = await measureBlocking(work);
  expect(blockedMs, `${what} held the event loop`).toBeLessThan(BLOCK_LIMIT_MS);
  if (error !== undefined && expected.length > 0)
    expect(
      expected.some((type) => error instanceof type),
      `${what}: unexpected ${String(error)}`,
    ).toBe(true);
  return error;
}

const message = (payload: unknown, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id: 'fuzz', payload, meta: { 'mqtt.topic': 'a/b/c', ...meta }, time: 1_700_000_000_000 });

/** Text that stresses parsers: deep nesting, long runs, odd characters, near-misses of the format. */
const hostileText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ depthSize: 'large' }),
  fc.nat({ max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.nat({ max: 20_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.nat({ max: 100_000 }).map((n) => `"${'\\u0041'.repeat(n / 6)}"`),
  fc.nat({ max: 100_000 }).map((n) => 'a'.repeat(n)),
  fc.nat({ max: 50_000 }).map((n) => `{{${' '.repeat(n)}`),
  fc.nat({ max: 50_000 }).map((n) => `1${'0'.repeat(n)}e${n}`),
);
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  hostileText.map((s) => Buffer.from(s, 'utf8')),
  fc.nat({ max: 65_536 }).map((n) => new Uint8Array(n).fill(0xff)),
  fc.nat({ max: 65_536 }).map((n) => new Uint8Array(n).fill(0x80)),
);

describe('fuzz: payload decoders', () => {
  it('MQTT payloads: json, text and bytes, and back', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileBytes,
        fc.constantFrom('json', 'text', 'bytes' as const),
        async (bytes, encoding) => {
          const decoded = decodePayload(bytes, encoding, 256 * 1024);
          await bounded('decodePayload', () => decodePayload(bytes, encoding, 256 * 1024));
          if (decoded.ok) await bounded('encodePayload', () => encodePayload(decoded.value, encoding));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the decode transform, every format', async () => {
    const layout = byteLayoutSchema.parse([
      { name: 't', offset: 0, type: 'int16be', scale: 0.1 },
      { name: 'f', offset: 2, type: 'bit', bit: 3 },
      { name: 'v', offset: 3, type: 'float32le' },
    ]);
    const transforms = [
      ...(['json', 'text', 'base64', 'hex', 'cayenne-lpp'] as const).map(
        (format) => new DecodeTransform(decodeTransformConfig.parse({ format })),
      ),
      ...(['bytes', 'base64', 'hex'] as const).map(
        (from) => new DecodeTransform(decodeTransformConfig.parse({ format: 'byte-layout', layout, from })),
      ),
      new DecodeTransform(decodeTransformConfig.parse({ format: 'cayenne-lpp', from: 'base64' })),
    ];
    const input = fc.oneof(hostileBytes, hostileText, fc.anything());
    await fc.assert(
      fc.asyncProperty(input, async (payload) => {
        for (const transform of transforms)
          await bounded('decode', () => transform.apply([message(payload)], createTestTransformContext()));
      }),
      { numRuns: RUNS },
    );
  });

  it('Cayenne LPP and byte layouts, on random frames and random layouts', async () => {
    const field = fc.oneof(
      fc.record({
        name: fc.constantFrom('a', 'b', 'c'),
        offset: fc.nat({ max: 64 }),
        type: fc.constantFrom(...BYTE_LAYOUT_NUMBER_TYPES),
      }),
      fc.record({
        name: fc.constantFrom('x', 'y'),
        offset: fc.nat({ max: 64 }),
        type: fc.constant('bit' as const),
        bit: fc.nat({ max: 7 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        hostileBytes,
        fc.array(field, { minLength: 1, maxLength: 6 }),
        async (bytes, fields) => {
          await bounded('decodeCayenneLpp', () => decodeCayenneLpp(bytes), [CodecError]);
          const layout = byteLayoutSchema.safeParse(fields);
          if (layout.success)
            await bounded('decodeByteLayout', () => decodeByteLayout(layout.data, bytes), [CodecError]);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: ChirpStack events', () => {
  const EVENTS: ChirpstackEvent[] = ['up', 'join', 'status', 'ack', 'txack', 'log', 'location'];
  const validProtobuf = [
    chirpstack.v4UpProtobuf(),
    chirpstack.v4JoinProtobuf(),
    chirpstack.v4StatusProtobuf(),
    chirpstack.v4AckProtobuf(),
    chirpstack.v4TxackProtobuf(),
    chirpstack.v4LogProtobuf(),
    chirpstack.v4LocationProtobuf(),
  ];
  /** A valid event, then damaged: bytes flipped, cut, inserted, or a length field made huge. */
  const damaged = fc
    .tuple(
      fc.constantFrom(...validProtobuf),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 })), {
        minLength: 1,
        maxLength: 8,
      }),
    )
    .map(([original, edits]) => {
      let bytes = [...original];
      for (const [at, value, kind] of edits) {
        const i = at % Math.max(bytes.length, 1);
        if (kind === 0) bytes[i] = value;
        else if (kind === 1) bytes = bytes.slice(0, i);
        else if (kind === 2) bytes.splice(i, 0, value);
        else bytes.splice(i, 0, 0xff, 0xff, 0xff, 0xff, 0x0f);
      }
      return Uint8Array.from(bytes);
    });

  it('binary Protobuf: random and damaged events of every type', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(damaged, hostileBytes), fc.constantFrom(...EVENTS), async (bytes, event) => {
        await bounded(`protobuf ${event}`, () => decodeProtobufEvent(event, bytes), [EventError]);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('JSON v3 and v4: random values in the fields of real events', async () => {
    const events: [ChirpstackEvent, Record<string, unknown>][] = [
      ['up', chirpstack.v4Up()],
      ['up', chirpstack.v3JsonV3Up()],
      ['up', chirpstack.v3JsonUp()],
      ['status', chirpstack.v4Status()],
      ['txack', chirpstack.v4Txack()],
      ['log', chirpstack.v4Log()],
      ['location', chirpstack.v4Location()],
      ['status', chirpstack.v3Status()],
      ['log', chirpstack.v3Error()],
    ];
    const mutated = fc
      .tuple(fc.constantFrom(...events), fc.array(fc.tuple(fc.nat(), fc.anything()), { maxLength: 4 }))
      .map(([[event, body], edits]) => {
        const copy: Record<string, unknown> = structuredClone(body);
        const keys = Object.keys(copy);
        for (const [at, value] of edits) copy[keys[at % keys.length] as string] = value;
        return [event, Buffer.from(JSON.stringify(copy) ?? 'null')] as const;
      });
    const random = fc.tuple(fc.constantFrom(...EVENTS), hostileBytes);
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, random), async ([event, bytes]) => {
        await bounded(`chirpstack json ${event}`, () => parseEvent(parseBody(bytes), { event }, 0), [
          EventError,
        ]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: OPC UA values', () => {
  const dataTypes = Object.values(opcua.DataType).filter((v): v is number => typeof v === 'number');

  it('variants from a server, whatever their shape, become JSON', async () => {
    const variant = fc.record({
      dataType: fc.constantFrom(...dataTypes),
      arrayType: fc.constantFrom(0, 1, 2),
      value: fc.oneof(
        fc.array(fc.double(), { maxLength: 64 }),
        fc.anything(),
        fc.uint8Array({ maxLength: 64 }),
      ),
      dimensions: fc.oneof(
        fc.array(fc.integer({ min: -2, max: 6 }), { maxLength: 4 }),
        fc.array(fc.integer({ min: -2, max: 1_000_000 }), { maxLength: 4 }),
        fc.constant(null),
      ),
    });
    await fc.assert(
      fc.asyncProperty(variant, async (v) => {
        await bounded('variantToJson', () => variantToJson(v as unknown as opcua.Variant));
      }),
      { numRuns: RUNS },
    );
  });

  it('JSON to write is converted to the node type, or refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...dataTypes),
        fc.constantFrom(-3, -2, -1, 0, 1, 2),
        fc.oneof(fc.anything(), hostileText),
        async (dataType, valueRank, value) => {
          await bounded('jsonToVariant', () => jsonToVariant(opcua, { dataType, valueRank }, value), [
            CoercionError,
          ]);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: templates', () => {
  it('compile any text, or refuse it, and render any message', async () => {
    const template = fc.oneof(
      hostileText,
      fc
        .array(
          fc.constantFrom(
            '{{',
            '}}',
            ' ',
            'payload',
            '.',
            'a',
            '[0]',
            'topic[1]',
            'meta.x',
            'date:',
            'YYYY',
            '[',
            ']',
          ),
          {
            maxLength: 40,
          },
        )
        .map((parts) => parts.join('')),
    );
    await fc.assert(
      fc.asyncProperty(template, fc.anything(), async (text, payload) => {
        let render: ReturnType<typeof compileTemplate> | undefined;
        await bounded(
          'compileTemplate',
          () => {
            render = compileTemplate(text);
          },
          [TemplateError],
        );
        if (render) {
          const r = render;
          await bounded('render', () => r(message(payload, { x: payload })), [TemplateError]);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: JSONata map and filter', () => {
  /** Expressions that cost a lot in plain JSONata on the right data. */
  const HOSTILE = [
    '$match(payload.s, /^(a+)+$/)',
    '$contains(payload.s, /^(\\d+)*$/)',
    '$replace(payload.s, /(a|aa)+$/, "x")',
    '$split(payload.s, /(.*)*,/)',
    '$sum([1..9999999])',
    '$count([1..$length(payload.s) * 100000])',
    '$sort(payload.list)',
    '$distinct(payload.list)',
    '$pad("x", 100000000)',
    '$reduce([1..64], function($a, $i) { $append($a, $a) }, [1])',
    '$reduce([1..64], function($a, $i) { $a & $a }, "ab")',
    '($f := function($n) { $f($n + 1) }; $f(0))',
    '$string(payload)',
    '$spread(payload)',
    'payload.list^($)',
    '$sort(payload.list, function($a, $b) { $a > $b })',
    '$eval(payload.s)',
    '$each(payload, function($v, $k) { $k })',
    'payload.list[$ in payload.list]',
    'payload.s ~> $uppercase() ~> $lowercase() ~> $length()',
  ];
  const payload = fc.oneof(
    fc.record({
      s: fc.oneof(
        fc.nat({ max: 10_000 }).map((n) => `${'a'.repeat(n)}!`),
        fc.nat({ max: 10_000 }).map((n) => `${'1'.repeat(n)}x`),
        fc.string({ maxLength: 100 }),
      ),
      list: fc.oneof(
        fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 5000 }),
        fc.nat({ max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => (i * 7919) % n)),
        fc.nat({ max: 10_000 }).map((n) => Array.from({ length: n }, (_, i) => `k${i}`)),
      ),
    }),
    fc.anything(),
  );

  it('reject or answer each message within the bound, and the next message goes on', async () => {
    const maps = HOSTILE.map(
      (expression) => new MapTransform(mapTransformConfig.parse({ expression, timeout: '500ms' })),
    );
    const filters = HOSTILE.map(
      (expression) => new FilterTransform(filterTransformConfig.parse({ expression, timeout: '500ms' })),
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: HOSTILE.length - 1 }), payload, async (i, p) => {
        const ctx = createTestTransformContext();
        const next = message({ s: 'ok', list: [2, 1] });
        const mapped = await measureRepeatableBlocking(() => maps[i]?.apply([message(p), next], ctx));
        expect(mapped.blockedMs, `map ${HOSTILE[i]}`).toBeLessThan(BLOCK_LIMIT_MS);
        expect(mapped.error).toBeUndefined();
        const filtered = await measureRepeatableBlocking(() => filters[i]?.apply([message(p), next], ctx));
        expect(filtered.blockedMs, `filter ${HOSTILE[i]}`).toBeLessThan(BLOCK_LIMIT_MS);
        expect(filtered.error).toBeUndefined();
      }),
      { numRuns: 120 },
    );
  });
});
