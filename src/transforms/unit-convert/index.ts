import { defineTransform } from '../../sdk/index.js';
import { unitConvertTransformConfig } from './spec.js';
import { UnitConvertTransform } from './unit-convert.js';

export { unitConvertTransformConfig, type UnitConvertTransformConfig } from './spec.js';
export { UnitConvertTransform } from './unit-convert.js';

export const unitConvertTransform = defineTransform({
  type: 'unit-convert',
  title: 'Unit convert',
  summary: 'Converts numbers between units (mathjs names: degF to degC, psi to bar, m3/h to l/min...).',
  config: unitConvertTransformConfig,
  examples: [
    { fields: [{ path: 'payload.temperature', from: 'degF', to: 'degC', decimals: 1 }] },
    {
      fields: [
        { path: 'payload.pressure', from: 'psi', to: 'bar', decimals: 3, unitField: 'pressureUnit' },
        { path: 'payload.lines[*].flow', from: 'm3/h', to: 'l/min' },
        { path: 'payload.energy', from: 'kWh', to: 'MJ' },
      ],
      missing: 'reject',
    },
  ],
  create: (config) => new UnitConvertTransform(config),
});
