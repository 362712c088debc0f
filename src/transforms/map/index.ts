import { defineTransform } from '../../sdk/index.js';
import { MapTransform } from './map.js';
import { mapTransformConfig } from './spec.js';

export { mapTransformConfig, type MapTransformConfig } from './spec.js';
export { MapTransform } from './map.js';

export const mapTransform = defineTransform({
  type: 'map',
  title: 'Map',
  summary: 'Computes a new payload, and optionally metadata, with a JSONata expression.',
  config: mapTransformConfig,
  examples: [
    { expression: '$merge([payload, {"temperatureF": payload.temperature * 9 / 5 + 32}])' },
    {
      expression:
        '{ "device": payload.device, "celsius": payload.temperature, "fahrenheit": payload.temperature * 9 / 5 + 32 }',
    },
    { expression: 'payload.sensor.reading', meta: { 'mqtt.topic': '"out/" & meta.`mqtt.topic`' } },
  ],
  create: (config) => new MapTransform(config),
});
