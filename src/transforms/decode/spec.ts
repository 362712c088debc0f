import { z } from 'zod';
import { byteLayoutSchema } from '../../sdk/index.js';
import { checkFrameOptions } from '../shared/frame-options.js';
import { locationField } from '../shared/location.js';
import type { TransformSpec } from '../../sdk/index.js';

export const DECODE_FORMATS = ['json', 'text', 'base64', 'hex', 'cayenne-lpp', 'byte-layout'] as const;

export const decodeTransformConfig = z
  .strictObject({
    format: z
      .enum(DECODE_FORMATS)
      .describe(
        'json: UTF-8 JSON text or bytes -> value; text: UTF-8 bytes -> string; base64 / hex: text -> bytes; cayenne-lpp: an LPP frame -> { temperatureSensor: { "1": 21.5 }, ... }; byte-layout: a frame -> the fields of `layout`.',
      ),
    field: locationField(
      'Where the value to decode is: payload, payload.<path> (e.g. payload.data) or meta.<key>.',
    ).default('payload'),
    target: locationField('Where the decoded value goes. Default: in place of the value decoded.').optional(),
    from: z
      .enum(['bytes', 'base64', 'hex'])
      .default('bytes')
      .describe(
        'cayenne-lpp and byte-layout: how the frame arrives: bytes, or text in base64 (ChirpStack\u2019s `data`) or hex.',
      ),
    layout: byteLayoutSchema
      .optional()
      .describe('byte-layout: the fields at fixed byte offsets (required for it).'),
    maxBytes: z
      .int()
      .positive()
      .default(1_048_576)
      .describe(
        'Largest input accepted, in bytes (characters for text); a larger one is rejected with the reason.',
      ),
  })
  .superRefine((c, ctx) =>
    checkFrameOptions(c, ctx, {
      key: 'from',
      value: c.from,
      otherwise: 'decode base64 or hex first with another decode',
    }),
  );

export type DecodeTransformConfig = z.output<typeof decodeTransformConfig>;

export const decodeTransformSpec: TransformSpec<typeof decodeTransformConfig> = {
  kind: 'transform',
  type: 'decode',
  title: 'Decode',
  summary:
    'Decodes the payload or a field: JSON, UTF-8 text, base64, hex, Cayenne LPP or a declarative byte layout.',
  config: decodeTransformConfig,
  examples: [
    { format: 'json' },
    { format: 'cayenne-lpp', field: 'payload.data', from: 'base64', target: 'payload.decoded' },
    {
      format: 'byte-layout',
      layout: [
        { name: 'temperature', offset: 0, type: 'int16be', scale: 0.01 },
        { name: 'humidity', offset: 2, type: 'uint8', scale: 0.5 },
        { name: 'doorOpen', offset: 3, type: 'bit', bit: 0 },
      ],
    },
  ],
  load: async () => (await import('./index.js')).decodeTransform,
};
