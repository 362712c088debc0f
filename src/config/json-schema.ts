import { z } from 'zod';
import type { ComponentEntry } from '../sdk/index.js';
import { componentsOf, type ComponentKind, type Registry } from '../registry/types.js';
import { PIPELINE_RENAMED, pipelineOptions, sinkEngineOptions } from './pipeline-schema.js';

/**
 * The JSON Schema of a pipeline file, for editors (yaml-language-server). Draft-07: the draft that
 * yaml-language-server supports best. Each component slot is an `allOf` of `if type = X then
 * <X's schema>`, so completion and validation follow the chosen type and errors stay precise
 * (a `oneOf` would report every non-matching alternative).
 */

type JsonSchema = Record<string, unknown>;

const DRAFT = 'http://json-schema.org/draft-07/schema#';

function toJson(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** Moves nested `definitions` to the root under a prefix, rewriting their `$ref`s. */
function hoist(json: JsonSchema, prefix: string, definitions: JsonSchema): JsonSchema {
  const local = json.definitions as Record<string, JsonSchema> | undefined;
  delete json.definitions;
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v === null || typeof v !== 'object') return v;
    const out: JsonSchema = {};
    for (const [k, child] of Object.entries(v)) {
      if (k === '$ref' && typeof child === 'string' && child.startsWith('#/definitions/')) {
        out[k] = `#/definitions/${prefix}.${child.slice('#/definitions/'.length)}`;
      } else if (k === '$ref' && child === '#') {
        out[k] = `#/definitions/${prefix}`;
      } else out[k] = rewrite(child);
    }
    return out;
  };
  for (const [name, def] of Object.entries(local ?? {})) definitions[`${prefix}.${name}`] = rewrite(def);
  return rewrite(json) as JsonSchema;
}

/**
 * Former key names, accepted with the current key's schema and marked deprecated (the loader
 * warns), so an editor does not flag a config that still loads.
 */
function deprecatedNames(
  renamed: Readonly<Record<string, string>> | undefined,
  properties: JsonSchema,
): JsonSchema {
  const out: JsonSchema = {};
  for (const [former, current] of Object.entries(renamed ?? {})) {
    const schema = properties[current] as JsonSchema | undefined;
    if (!schema) throw new Error(`renamed key ${former}: no key ${current} in the schema`);
    const message = `Deprecated: the former name of ${current}; rename it.`;
    out[former] = { ...schema, description: message, deprecated: true, deprecationMessage: message };
  }
  return out;
}

function componentSchema(
  kind: ComponentKind,
  definition: ComponentEntry,
  definitions: JsonSchema,
): JsonSchema {
  const id = `${kind}.${definition.type}`;
  const json = hoist(toJson(definition.config as z.ZodType), id, definitions);
  const properties: JsonSchema = {
    type: { const: definition.type, description: `${definition.title}: ${definition.summary}` },
    ...((json.properties as JsonSchema | undefined) ?? {}),
  };
  if (kind === 'sink')
    Object.assign(properties, (toJson(sinkEngineOptions).properties as JsonSchema | undefined) ?? {});
  Object.assign(properties, deprecatedNames(definition.renamed, properties));
  const out: JsonSchema = {
    title: definition.title,
    description: definition.summary,
    ...json,
    type: 'object',
    properties,
    required: ['type', ...((json.required as string[] | undefined) ?? [])],
    additionalProperties: false,
  };
  if (definition.examples?.length)
    out.examples = definition.examples.map((e) => ({ type: definition.type, ...e }));
  return out;
}

function slot(kind: ComponentKind, registry: Registry, definitions: JsonSchema): JsonSchema {
  const list = componentsOf(registry, kind);
  for (const d of list) definitions[`${kind}.${d.type}`] = componentSchema(kind, d, definitions);
  // Draft-07 wants non-empty `enum` and `allOf`: with no component of this kind, any type fails.
  if (list.length === 0) {
    return {
      type: 'object',
      required: ['type'],
      properties: { type: { not: {}, description: `No ${kind} types are available.` } },
    };
  }
  return {
    type: 'object',
    required: ['type'],
    properties: { type: { enum: list.map((d) => d.type), description: `The ${kind} type.` } },
    allOf: list.map((d) => ({
      if: { properties: { type: { const: d.type } }, required: ['type'] },
      then: { $ref: `#/definitions/${kind}.${d.type}` },
    })),
  };
}

export function buildPipelineJsonSchema(registry: Registry): JsonSchema {
  const definitions: JsonSchema = {};
  const source = slot('source', registry, definitions);
  const transform = slot('transform', registry, definitions);
  const sink = slot('sink', registry, definitions);
  const base = toJson(pipelineOptions);
  const baseProps = (base.properties as JsonSchema | undefined) ?? {};
  const { name, description, ...engine } = baseProps;
  Object.assign(engine, deprecatedNames(PIPELINE_RENAMED, engine));
  const sortedDefinitions: JsonSchema = {};
  for (const key of Object.keys(definitions).sort()) sortedDefinitions[key] = definitions[key];
  return {
    $schema: DRAFT,
    title: 'passerelle pipeline',
    description:
      'One pipeline per YAML document: a source, transforms and sinks. Secrets as ${env:NAME} or ${file:PATH}.',
    type: 'object',
    additionalProperties: false,
    required: ['name', 'source', 'sinks'],
    properties: {
      name,
      description,
      source: { $ref: '#/definitions/source', description: 'Where the messages come from.' },
      transforms: {
        type: 'array',
        items: { $ref: '#/definitions/transform' },
        description: 'Applied in order to every batch.',
        default: [],
      },
      sinks: {
        type: 'array',
        minItems: 1,
        items: { $ref: '#/definitions/sink' },
        description: 'Where the messages go; each sink has its own queue.',
      },
      ...engine,
    },
    definitions: { source, transform, sink, ...sortedDefinitions },
  };
}
