import { defineTransform } from '../../sdk/index.js';
import { EnrichTransform } from './enrich.js';
import { enrichTransformConfig } from './spec.js';

export { enrichTransformConfig, type EnrichTransformConfig } from './spec.js';
export { EnrichTransform } from './enrich.js';

export const enrichTransform = defineTransform({
  type: 'enrich',
  title: 'Enrich',
  summary:
    'Adds static or templated fields, place and subject tags, the processing time, and values named in the topic (site/{site}/line/{line}/#).',
  config: enrichTransformConfig,
  examples: [
    { place: { site: 'lyon', building: 'B2' }, processingTime: 'receivedAt' },
    { topic: 'site/{site}/line/{line}/#', subject: { machine: '{{ topic[4] }}' } },
    { fields: { source: 'passerelle', pipeline: '{{ pipeline }}' }, target: 'meta' },
  ],
  create: (config) => new EnrichTransform(config),
});
