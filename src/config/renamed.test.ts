import { afterEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../registry/index.js';
import { allComponents } from '../registry/types.js';
import { clearSecretsForTests } from '../sdk/index.js';
import { buildPipelineJsonSchema } from './json-schema.js';
import { loadPipelineTexts } from './load.js';

afterEach(() => clearSecretsForTests());

// What each `maxInFlight` bounded, by its new name (docs/configuration.md, "Message counts").
const RENAMED: [kind: 'source' | 'sink', type: string, current: string][] = [
  ['source', 'mqtt', 'receiveMaximum'],
  ['source', 'chirpstack', 'receiveMaximum'],
  ['source', 'opcua', 'maxQueuedValues'],
  ['source', 'sparkplug', 'maxQueuedMetrics'],
  ['source', 'sparkplug-commands', 'maxQueuedCommands'],
  ['sink', 'mqtt', 'maxUnacked'],
  ['sink', 'chirpstack-downlink', 'maxUnacked'],
];

// The examples refer to secrets by ${env:NAME}: every name is set.
const anyEnv = new Proxy({} as Record<string, string>, {
  get: () => 'a-long-enough-secret-value-0123456789',
});
const load = (text: string, env: Record<string, string> = anyEnv) =>
  loadPipelineTexts([{ file: 'p.yaml', text }], builtinRegistry, { env });

const yamlOf = (value: Record<string, unknown>, indent: string): string =>
  Object.entries(value)
    .map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`)
    .join('\n');

/** A pipeline whose `kind` is `type` with its first documented example plus `extra`. */
function pipelineWith(kind: 'source' | 'sink', type: string, extra: Record<string, unknown>): string {
  const spec = allComponents(builtinRegistry).find((c) => c.kind === kind && c.type === type)!;
  const example = { ...spec.examples![0], ...extra };
  const component = `  - type: ${type}\n${yamlOf(example, '    ')}`;
  return kind === 'source'
    ? `name: p\nsource:\n  type: ${type}\n${yamlOf(example, '  ')}\nsinks:\n  - type: log\n`
    : `name: p\nsource: { type: simulator }\nsinks:\n${component}\n`;
}

describe('former key names (maxInFlight)', () => {
  it('lists exactly the renames above in the component specs', () => {
    const declared = allComponents(builtinRegistry).flatMap((c) =>
      Object.entries(c.renamed ?? {}).map(([former, current]) => [c.kind, c.type, former, current]),
    );
    expect(declared.sort()).toEqual(RENAMED.map(([k, t, c]) => [k, t, 'maxInFlight', c]).sort());
  });

  it('reads the pipeline maxInFlight as maxUnsettled, and warns at the key with the new name', () => {
    const { pipelines, issues, warnings } = load(
      'name: p\nmaxInFlight: 123\nsource: { type: simulator }\nsinks:\n  - type: log\n',
    );
    expect(issues).toEqual([]);
    expect(pipelines[0]!.maxUnsettled).toBe(123);
    expect(warnings).toEqual([
      expect.objectContaining({
        line: 2,
        column: 1,
        path: 'maxInFlight',
        message: expect.stringMatching(/^maxInFlight is deprecated: rename it to maxUnsettled\b/),
      }),
    ]);
  });

  it.each(RENAMED)('reads maxInFlight of the %s %s as %s, and warns', (kind, type, current) => {
    const { pipelines, issues, warnings } = load(pipelineWith(kind, type, { maxInFlight: 7 }));
    expect(issues).toEqual([]);
    const component = kind === 'source' ? pipelines[0]!.source : pipelines[0]!.sinks[0]!;
    expect((component.config as Record<string, unknown>)[current]).toBe(7);
    expect((component.config as Record<string, unknown>).maxInFlight).toBeUndefined();
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${kind === 'source' ? 'source' : 'sinks\\[0\\]'}\\.maxInFlight: maxInFlight is deprecated: rename it to ${current}\\b`,
        ),
      ),
    );
    // The new name alone: same config, no warning about it.
    const renamed = load(pipelineWith(kind, type, { [current]: 7 }));
    expect(renamed.issues).toEqual([]);
    expect(renamed.warnings.filter((w) => /maxInFlight/.test(w.message))).toEqual([]);
    const again = kind === 'source' ? renamed.pipelines[0]!.source : renamed.pipelines[0]!.sinks[0]!;
    expect(again.config).toEqual(component.config);
  });

  it('refuses both names at once, pointing at the former one', () => {
    const { pipelines, issues } = load(
      'name: p\nmaxInFlight: 1\nmaxUnsettled: 2\nsource: { type: simulator }\nsinks:\n  - type: log\n',
    );
    expect(pipelines).toEqual([]);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '2:1 maxInFlight: maxInFlight is the former name of maxUnsettled, which is set too: remove maxInFlight',
    ]);
  });

  it('checks the value under its new name, and an interpolated value is not printed', () => {
    const { issues } = load(
      'name: p\nmaxInFlight: ${env:SECRET}\nsource: { type: simulator }\nsinks:\n  - type: log\n',
      { SECRET: 'hunter2-not-a-number' },
    );
    const text = issues.map((i) => `${i.path}: ${i.message}`);
    expect(text).toEqual(['maxUnsettled: expected number, got the value from ${env:SECRET}']);
    expect(text.join()).not.toContain('hunter2');
  });

  it('keeps the former names in the JSON schema, marked deprecated, with the new key’s schema', () => {
    const schema = buildPipelineJsonSchema(builtinRegistry) as {
      properties: Record<string, Record<string, unknown>>;
      definitions: Record<string, { properties: Record<string, Record<string, unknown>> }>;
    };
    expect(schema.properties.maxInFlight).toMatchObject({ deprecated: true, type: 'integer' });
    for (const [kind, type, current] of RENAMED) {
      const props = schema.definitions[`${kind}.${type}`]!.properties;
      expect(props.maxInFlight).toMatchObject({
        deprecated: true,
        description: `Deprecated: the former name of ${current}; rename it.`,
        type: props[current]!.type,
      });
    }
  });
});
