import { describe, expect, it } from 'vitest';
import { FatalError } from '../src/sdk/index.js';
import { TemplateError } from '../src/sdk/template.js';
import { FieldError } from '../src/transforms/shared/each-message.js';
import { CanonicalError } from '../src/transforms/shared/digest.js';
import { UnitError } from '../src/transforms/unit-convert/units.js';
import { PointError } from '../connectors/influxdb/point.js';
import { CoercionError } from '../connectors/opcua/values.js';
import { EventError } from '../connectors/chirpstack/events.js';
import { SparkplugValueError } from '../connectors/sparkplug/datatypes.js';

/**
 * Errors that mean "this message will never succeed" (bad data, a template that can not render it)
 * are FatalErrors of the SDK's vocabulary: escaping a component, they are dead-lettered at once
 * with their message, not retried as unknown errors.
 */
describe('error vocabulary', () => {
  it.each([
    ['TemplateError', TemplateError],
    ['FieldError', FieldError],
    ['CanonicalError', CanonicalError],
    ['UnitError', UnitError],
    ['PointError', PointError],
    ['CoercionError', CoercionError],
    ['EventError', EventError],
    ['SparkplugValueError', SparkplugValueError],
  ] as const)('%s is a FatalError and keeps its message', (name, ErrorClass) => {
    const error = new ErrorClass('bad value');
    expect(error).toBeInstanceOf(FatalError);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error.message).toBe('bad value');
    expect(error.name).toBe(name);
  });
});
