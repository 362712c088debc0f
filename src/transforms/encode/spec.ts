import { z } from 'zod';
import { byteLayoutSchema } from '../../sdk/index.js';
import { checkFrameOptions } from '../shared/frame-options.js';
import { locationField } from '../shared/location.js';
import type { TransformSpec } from '../../sdk/index.js';

export const ENCODE_FORMATS = ['json', 'text', 'base64', 'hex', 'cayenne-lpp', 'byte-layout'] as const;

export const encodeTransformConfig = z
  .strictObject({
    format: z
      .enum(ENCODE_FORMATS)
      .describe(
        'json: value -> UTF-8 JSON bytes; text: string, number or boolean -> UTF-8 bytes; base64 / hex: bytes (or text, as UTF-8) -> text; cayenne-lpp: { temperatureSensor: { "1": 21.5 }, ... } -> frame; byte-layout: an object -> frame by `layout`.',
      ),
    field: locationField('Where the value to encode is: payload, payload.<path> or meta.<key>.').default(
      'payload',
    ),
    target: locationField('Where the encoded value goes. Default: in place of the value encoded.').optional(),
    to: z
      .enum(['bytes', 'base64', 'hex'])
      .default('bytes')
      .describe(
        'cayenne-lpp and byte-layout: give the frame as bytes, or as base64 text (e.g. a ChirpStack downlink\u2019s `data`) or hex text.',
      ),
    layout: byteLayoutSchema
      .optional()
      .describe('byte-layout: the fields at fixed byte offsets (required for it).'),
    maxBytes: z
      .int()
      .positive()
      .default(1_048_576)
      .describe(
        'Largest output accepted, in bytes (characters for text); a larger one is rejected with the reason.',
      ),
  })
  .superRefine((c, ctx) =>
    checkFrameOptions(c, ctx, {
      key: 'to',
      value: c.to,
      otherwise: 'add an encode with format base64 or hex after it',
    }),
  );

export type EncodeTransformConfig = z.output<typeof encodeTransformConfig>;

export const encodeTransformSpec: TransformSpec<typeof encodeTransformConfig> = {
  kind: 'transform',
  type: 'encode',
  title: 'Encode',
  summary:
    'Encodes the payload or a field: JSON, UTF-8 text, base64, hex, Cayenne LPP or a declarative byte layout.',
  config: encodeTransformConfig,
  examples: [
    { format: 'json' },
    { format: 'cayenne-lpp', field: 'payload.object', target: 'payload.data', to: 'base64' },
    {
      format: 'byte-layout',
      layout: [
        { name: 'setpoint', offset: 0, type: 'int16be', scale: 0.1 },
        { name: 'fanOn', offset: 2, type: 'bit', bit: 0 },
      ],
    },
  ],
  load: async () => (await import('./index.js')).encodeTransform,
};
