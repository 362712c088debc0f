import { defineTransform } from '../../sdk/index.js';
import { EncodeTransform } from './encode.js';
import { encodeTransformConfig } from './spec.js';

export { encodeTransformConfig, type EncodeTransformConfig } from './spec.js';
export { EncodeTransform } from './encode.js';

export const encodeTransform = defineTransform({
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
  create: (config) => new EncodeTransform(config),
});
