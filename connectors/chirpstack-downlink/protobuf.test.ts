import { describe, expect, it } from 'vitest';
import { createMessage, FatalError } from '../../src/sdk/index.js';
import { createFakeContext } from '../../test/conformance/context.js';
import { chirpstackDownlinkSink } from './index.js';
import { commandUuid, encodeDownlinkCommand } from './protobuf.js';
import type { ChirpstackDownlinkSink } from './sink.js';
import { chirpstackDownlinkConfig } from './spec.js';

const APP = '17c82e96-be03-4f38-aef3-f83d48582d97';
const sink = (extra: Record<string, unknown> = {}) =>
  chirpstackDownlinkSink.create(
    chirpstackDownlinkConfig.parse({
      url: 'mqtt://localhost:1',
      applicationId: APP,
      devEui: '0101010101010101',
      fPort: 3,
      encoder: 'chirpstack',
      ...extra,
    }),
    createFakeContext(),
  ) as ChirpstackDownlinkSink;

describe('chirpstack-downlink commands, hostile and odd objects', () => {
  it('keeps a __proto__ key as a key in Protobuf, as JSON does, and maps non-JSON values as JSON would', () => {
    const object = JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as Record<string, unknown>;
    const bytes = encodeDownlinkCommand({ devEui: '0101010101010101', confirmed: false, fPort: 3, object });
    expect(bytes.includes(Buffer.from('__proto__'))).toBe(true);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    // A Date becomes its ISO text, undefined is left out, NaN is null: as in the JSON body.
    const odd = { when: new Date(0), gone: undefined, nan: Number.NaN };
    const viaJson = encodeDownlinkCommand({
      devEui: '0101010101010101',
      confirmed: false,
      fPort: 3,
      object: JSON.parse(JSON.stringify(odd)) as Record<string, unknown>,
    });
    expect(
      encodeDownlinkCommand({ devEui: '0101010101010101', confirmed: false, fPort: 3, object: odd }),
    ).toEqual(viaJson);
  });

  it('refuses an object nested deeper than ChirpStack decodes, with the reason', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 60; i++) deep = { d: deep };
    for (const encoding of ['json', 'protobuf']) {
      const s = sink({ encoding });
      expect(() => s.command(createMessage({ id: 'x', payload: deep }))).toThrow(FatalError);
      expect(() => s.command(createMessage({ id: 'x', payload: deep }))).toThrow(/nests more than 40 levels/);
      let ok: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 30; i++) ok = { d: ok };
      expect(() => s.command(createMessage({ id: 'x', payload: ok }))).not.toThrow();
    }
  });

  it('command ids are RFC 9562 version 5 UUIDs; a UUID is kept', () => {
    const id = commandUuid('pipeline\nsinks[0]\nchirpstack:up:3ac7e3c4');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(commandUuid('pipeline\nsinks[0]\nchirpstack:up:3ac7e3c4')).toBe(id);
    expect(commandUuid('pipeline\nsinks[1]\nchirpstack:up:3ac7e3c4')).not.toBe(id);
    expect(commandUuid('0F8FAD5B-D9CB-469F-A165-70867728950E')).toBe('0f8fad5b-d9cb-469f-a165-70867728950e');
  });
});
