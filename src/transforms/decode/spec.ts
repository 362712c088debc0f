import { z } from 'zod';
import { builtSchema, lazySchema } from '../../sdk/index.js';
import { checkFrameOptions, frameFields, frameForm } from '../shared/frame-options.js';
import type { TransformSpec } from '../../sdk/index.js';

export const decodeTransformConfig = lazySchema(() =>
  z
    .strictObject({
      ...frameFields('decode', {
        formats:
          'json: UTF-8 JSON text or bytes -> value; text: UTF-8 bytes -> string; base64 / hex: text -> bytes; cayenne-lpp: an LPP frame -> { temperatureSensor: { "1": 21.5 }, ... }; byte-layout: a frame -> the fields of `layout`.',
        field: 'Where the value to decode is: payload, payload.<path> (e.g. payload.data) or meta.<key>.',
      }),
      from: frameForm(
        'cayenne-lpp and byte-layout: how the frame arrives: bytes, or text in base64 (ChirpStack\u2019s `data`) or hex.',
      ),
    })
    .superRefine((c, ctx) =>
      checkFrameOptions(c, ctx, {
        key: 'from',
        value: c.from,
        otherwise: 'decode base64 or hex first with another decode',
      }),
    ),
);

export type DecodeTransformConfig = z.output<typeof decodeTransformConfig>;

export const decodeTransformSpec: TransformSpec<typeof decodeTransformConfig> = {
  kind: 'transform',
  type: 'decode',
  title: 'Decode',
  summary:
    'Decodes the payload or a field: JSON, UTF-8 text, base64, hex, Cayenne LPP or a declarative byte layout.',
  get config() {
    return builtSchema(decodeTransformConfig);
  },
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
