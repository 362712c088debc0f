import { defineTransform } from '../../sdk/index.js';
import { DecodeTransform } from './decode.js';
import { decodeTransformConfig } from './spec.js';

export { decodeTransformConfig, type DecodeTransformConfig } from './spec.js';
export { DecodeTransform } from './decode.js';

export const decodeTransform = defineTransform({
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
  create: (config) => new DecodeTransform(config),
});
