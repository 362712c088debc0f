import { describe, expect, it } from 'vitest';
import { describeTransformConformance } from '../../../test/conformance/transform.js';
import { verifyChecksumTransform, verifyChecksumTransformConfig } from './index.js';
import {
  testComponentContext,
  testMessage,
  type GoldenCase,
  checkGolden,
} from '../../../test/conformance/transform-cases.js';

// Checksums of { t: 21.5, device: 'd1', n: 1e21 } (canonical form {"device":"d1","n":1e+21,"t":21.5}),
// computed with sha256sum, openssl and a bitwise CRC-32C (see checksum.test.ts); with t: 21.6 the
// sha256 is that of {"device":"d1","n":1e+21,"t":21.6}.
const KEY = Buffer.from('passerelle-test-key-0123456789ab').toString('base64');
const SHA = '534a836f36b1b846fe00a1e79bef1a725dae93c3853bd5e3bf7db47c6d3939ff';
const MAC = '1b44ac3ab10bd7f0474f5ef3af1a8348f95ff2a1ebdcab2b6f8e001aafc27f85';
const reading = { t: 21.5, device: 'd1', n: 1e21 };

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  verifyChecksumTransform.create(verifyChecksumTransformConfig.parse(config), componentCtx);

const message = testMessage;

type Case = GoldenCase;

const cases: Case[] = [
  {
    name: 'a matching field, kept',
    config: {},
    payload: { device: 'd1', n: 1e21, t: 21.5, checksum: SHA },
    expected: { payload: { device: 'd1', n: 1e21, t: 21.5, checksum: SHA } },
  },
  {
    name: 'a matching field, stripped',
    config: { strip: true },
    payload: { checksum: SHA, ...reading },
    expected: { payload: reading },
  },
  {
    name: 'a matching user property, stripped, the other properties kept',
    config: { algorithm: 'hmac-sha256', key: KEY, userProperty: 'mac', strip: true },
    payload: reading,
    meta: { 'mqtt.userProperties': { mac: MAC, origin: 'edge' }, 'mqtt.topic': 't' },
    expected: { payload: reading, meta: { 'mqtt.userProperties': { origin: 'edge' }, 'mqtt.topic': 't' } },
  },
  {
    name: 'the last user property stripped removes the key',
    config: { algorithm: 'crc32c', userProperty: 'crc', strip: true },
    payload: '123456789',
    meta: { 'mqtt.userProperties': { crc: 'e3069283' } },
    expected: { payload: '123456789', meta: {} },
  },
  {
    name: 'a changed value',
    config: {},
    payload: { ...reading, t: 21.6, checksum: SHA },
    expected: {
      rejected: `verify-checksum: sha256 mismatch: the message carries "${SHA}" (computed: bd7018a4633236cebda8ccb08556b51ec1efcb4d17a8f77c61578c72f6f65e2b); the payload was changed on the way, or the sender used other settings`,
    },
  },
  {
    name: 'a keyed mismatch does not show the valid value',
    config: { algorithm: 'hmac-sha256', key: KEY, userProperty: 'mac' },
    payload: { ...reading, t: 0 },
    meta: { 'mqtt.userProperties': { mac: MAC } },
    expected: {
      rejected: `verify-checksum: hmac-sha256 mismatch: the message carries "${MAC}"; the payload was changed on the way, or the sender used other settings`,
    },
  },
  {
    name: 'another key',
    config: { algorithm: 'hmac-sha256', key: Buffer.alloc(32, 1).toString('base64'), field: 'mac' },
    payload: { ...reading, mac: MAC },
    expected: {
      rejected: `verify-checksum: hmac-sha256 mismatch: the message carries "${MAC}"; the payload was changed on the way, or the sender used other settings`,
    },
  },
  {
    name: 'no checksum field',
    config: {},
    payload: reading,
    expected: { rejected: 'verify-checksum: no checksum: the payload has no "checksum" field' },
  },
  {
    name: 'no user property',
    config: { userProperty: 'checksum' },
    payload: reading,
    meta: { 'mqtt.userProperties': { other: 'x' } },
    expected: {
      rejected: 'verify-checksum: no checksum: no MQTT user property "checksum" (meta mqtt.userProperties)',
    },
  },
  {
    name: 'a repeated user property',
    config: { userProperty: 'checksum' },
    payload: reading,
    meta: { 'mqtt.userProperties': { checksum: [SHA, SHA] } },
    expected: {
      rejected:
        'verify-checksum: the MQTT user property "checksum" is repeated 2 times: which one to trust is unclear',
    },
  },
  {
    name: 'a checksum that is not a string',
    config: { field: 'crc', algorithm: 'crc32c' },
    payload: { ...reading, crc: 0xeb237987 },
    expected: { rejected: 'verify-checksum: the checksum field "crc" is a number, not a string' },
  },
  {
    name: 'a payload that is not an object, with a field checksum',
    config: {},
    payload: new Uint8Array([1, 2]),
    expected: {
      rejected:
        'verify-checksum: no checksum: the payload is bytes, not a JSON object with a "checksum" field',
    },
  },
  {
    name: 'a huge forged value',
    config: {},
    payload: { ...reading, checksum: 'f'.repeat(1_000_000) },
    expected: {
      rejected: `verify-checksum: sha256 mismatch: the message carries "${'f'.repeat(80)}…" (computed: ${SHA}); the payload was changed on the way, or the sender used other settings`,
    },
  },
];

describe('verify-checksum', () => {
  it.each(cases)('golden: $name', (c) => checkGolden(create, c));

  it('refuses configs with clear reasons', () => {
    const issues = (config: Record<string, unknown>) =>
      verifyChecksumTransformConfig
        .safeParse(config)
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ algorithm: 'hmac-sha256' })).toEqual(['key: hmac-sha256 needs a key']);
    expect(issues({ strip: 'yes' })?.[0]).toMatch(/^strip: /);
    for (const example of verifyChecksumTransform.examples ?? [])
      expect(
        verifyChecksumTransformConfig.safeParse({ ...example, ...(example.key ? { key: KEY } : {}) }).success,
      ).toBe(true);
  });
});

describeTransformConformance('verify-checksum', {
  neverDrops: 'a mismatch is rejected (dead-lettered), never dropped silently',
  create: () => create({ strip: true }),
  good: [message('g1', { ...reading, checksum: SHA }), message('g2', { checksum: SHA, ...reading })],
  bad: [
    message('b1', reading),
    message('b2', { ...reading, checksum: SHA.toUpperCase() }),
    message('b3', { ...reading, device: 'd2', checksum: SHA }),
  ],
});
