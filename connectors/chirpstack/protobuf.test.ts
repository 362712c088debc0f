import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { chirpstackSourceConfig, type ChirpstackEvent } from './spec.js';
import { EventError, parseEvent } from './events.js';
import * as fx from './fixtures.js';
import { decodeProtobufEvent } from './protobuf.js';
import { COMMON_PROTO, GW_PROTO, INTEGRATION_PROTO } from './proto-definitions.js';
import { buildRecord } from './record.js';

const config = () => chirpstackSourceConfig.parse({ url: 'mqtt://localhost:1883' });
const noCounters = { fCntGap: 0, fCntReset: false };
const device = { devEui: '0101010101010101', applicationId: fx.APP_V4 };

const EVENTS: [ChirpstackEvent, string][] = [
  ['up', 'UplinkEvent'],
  ['join', 'JoinEvent'],
  ['status', 'StatusEvent'],
  ['ack', 'AckEvent'],
  ['txack', 'TxAckEvent'],
  ['log', 'LogEvent'],
  ['location', 'LocationEvent'],
];

describe('v4 Protobuf events, encoded by ChirpStack API definitions', () => {
  const cases: [ChirpstackEvent, () => Buffer, () => Record<string, unknown>][] = [
    ['join', fx.v4JoinProtobuf, fx.v4Join],
    ['status', fx.v4StatusProtobuf, fx.v4Status],
    ['ack', fx.v4AckProtobuf, fx.v4Ack],
    ['txack', fx.v4TxackProtobuf, fx.v4Txack],
    ['location', fx.v4LocationProtobuf, fx.v4Location],
  ];
  it.each(cases)(
    'gives the same %s record as the JSON encoding, but for the format',
    (event, bytes, json) => {
      const topic = { event, ...device };
      const fromProtobuf = buildRecord(
        parseEvent(decodeProtobufEvent(event, bytes()), topic, 0, true),
        config(),
        noCounters,
      );
      const fromJson = buildRecord(parseEvent(json(), topic, 0), config(), noCounters);
      expect(fromProtobuf.payload).toEqual({ ...fromJson.payload, format: 'v4-protobuf' });
    },
  );
});

// --- hostile input -------------------------------------------------------------------------------

const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const tag = (field: number, wireType: number) => varint(field * 8 + wireType);
const delimited = (field: number, content: number[]) => [
  ...tag(field, 2),
  ...varint(content.length),
  ...content,
];

/** The same definitions, to walk every length-delimited field of every event type. */
const schema = new protobuf.Root();
for (const file of [
  'google/protobuf/timestamp.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/struct.proto',
])
  schema.addJSON(protobuf.common.get(file)?.nested ?? {});
for (const source of [COMMON_PROTO, GW_PROTO, INTEGRATION_PROTO]) protobuf.parse(source, schema);
schema.resolveAll();

const isDelimited = (field: protobuf.Field) =>
  field.map || field.resolvedType instanceof protobuf.Type || ['string', 'bytes'].includes(field.type);

/**
 * For every length-delimited field reachable from `type` (to `depth` levels of nested messages):
 * a valid frame around it, and in it the field claiming `length` bytes that are not there.
 */
function hugeLengths(type: protobuf.Type, length: number, depth: number, path = ''): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (const field of type.fieldsArray) {
    if (!isDelimited(field)) continue;
    const here = `${path}.${field.name}`;
    out.push([here, [...tag(field.id, 2), ...varint(length), 0x41]]);
    if (depth > 0 && !field.map && field.resolvedType instanceof protobuf.Type)
      for (const [inner, bytes] of hugeLengths(field.resolvedType, length, depth - 1, here))
        out.push([inner, delimited(field.id, bytes)]);
  }
  return out;
}

function expectRefused(event: ChirpstackEvent, bytes: number[]) {
  expect(() => decodeProtobufEvent(event, Uint8Array.from(bytes))).toThrow(EventError);
}

describe('v4 Protobuf, hostile input', () => {
  it('refuses the 6 bytes that froze google-protobuf, with the reason', () => {
    const sample = Buffer.from('0affffffff0f', 'hex');
    expect(() => decodeProtobufEvent('up', sample)).toThrow(
      /neither JSON nor a ChirpStack v4 Protobuf up event \(index out of range/,
    );
  });

  it.each(EVENTS)(
    'refuses a length beyond the payload in every length-delimited field of %s',
    (event, name) => {
      const cases = [0xffffffff, 2 ** 28, 1000].flatMap((length) =>
        hugeLengths(schema.lookupType(`integration.${name}`), length, 4),
      );
      expect(cases.length).toBeGreaterThan(10);
      for (const [, bytes] of cases) expectRefused(event, bytes);
    },
  );

  it('refuses truncated varints, wrong wire types and unterminated groups', () => {
    for (const event of EVENTS.map(([e]) => e)) {
      expectRefused(event, [0x0a, 0xff, 0xff]); // length varint cut off
      expectRefused(event, [0x08]); // tag without a value
      expectRefused(event, [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // 11-byte varint
      expectRefused(event, [0x0e]); // wire type 6 does not exist
      expectRefused(event, [0x0f, 0x00]); // nor 7
      expectRefused(event, [0x7b, 0x01]); // a group that never ends
      expectRefused(event, [0x11, 0x01, 0x02]); // fixed64 cut off
    }
  });

  it('refuses Struct objects nested deeper than the recursion limit', () => {
    // up.object (field 11) is a Struct: fields (1) -> map entry value (2) -> Value.struct_value (5) -> ...
    let inner: number[] = [];
    for (let level = 0; level < 200; level++)
      inner = delimited(1, [...delimited(1, [0x61]), ...delimited(2, delimited(5, inner))]);
    expect(() => decodeProtobufEvent('up', Uint8Array.from(delimited(11, inner)))).toThrow(
      /maximum nesting depth exceeded/,
    );
  });
});
