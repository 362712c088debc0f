import { z } from 'zod';
import { builtSchema, lazySchema } from '../../sdk/index.js';
import { checkFrameOptions, frameFields, frameForm } from '../shared/frame-options.js';
import type { TransformSpec } from '../../sdk/index.js';

export const encodeTransformConfig = lazySchema(() =>
  z
    .strictObject({
      ...frameFields('encode', {
        formats:
          'json: value -> UTF-8 JSON bytes; text: string, number or boolean -> UTF-8 bytes; base64 / hex: bytes (or text, as UTF-8) -> text; cayenne-lpp: { temperatureSensor: { "1": 21.5 }, ... } -> frame; byte-layout: an object -> frame by `layout`.',
        field: 'Where the value to encode is: payload, payload.<path> or meta.<key>.',
      }),
      to: frameForm(
        'cayenne-lpp and byte-layout: give the frame as bytes, or as base64 text (e.g. a ChirpStack downlink\u2019s `data`) or hex text.',
      ),
    })
    .superRefine((c, ctx) =>
      checkFrameOptions(c, ctx, {
        key: 'to',
        value: c.to,
        otherwise: 'add an encode with format base64 or hex after it',
      }),
    ),
);

export type EncodeTransformConfig = z.output<typeof encodeTransformConfig>;

export const encodeTransformSpec: TransformSpec<typeof encodeTransformConfig> = {
  kind: 'transform',
  type: 'encode',
  title: 'Encode',
  summary:
    'Encodes the payload or a field: JSON, UTF-8 text, base64, hex, Cayenne LPP or a declarative byte layout.',
  get config() {
    return builtSchema(encodeTransformConfig);
  },
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
