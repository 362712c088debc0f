import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import type { Document, Node } from 'yaml';
import type { z } from 'zod';
import {
  ConfigError,
  registerSecret,
  transientRequire,
  sourceReadModes,
  type ComponentEntry,
  type ConfigIssue,
  type SinkEntry,
} from '../sdk/index.js';
import { componentsOf, findComponent, type ComponentKind, type Registry } from '../registry/types.js';
import { hasInterpolation, interpolate, type Reference } from './interpolate.js';
import { didYouMean, translateIssues, type RawIssue } from './issues.js';
import { pipelineWarnings } from './warnings.js';
import { applyRenames } from './renamed.js';
import {
  NAME_PATTERN,
  PIPELINE_KEYS,
  PIPELINE_RENAMED,
  SINK_ENGINE_KEYS,
  pipelineOptions,
  sinkEngineOptions,
  type ComponentConfig,
  type PipelineConfig,
  type SinkConfig,
} from './pipeline-schema.js';
import {
  expandPath,
  formatPath,
  getAt,
  matchesSchemaPath,
  secretPaths,
  type PathSegment,
  type SchemaPath,
} from './schema-walk.js';

export interface LoadOptions {
  /** Environment for `${env:NAME}`; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * Do not resolve `${env:}` / `${file:}` (lint in CI without the secrets): values that hold a
   * reference are not checked, and each pipeline says which ones were left unchecked.
   */
  offline?: boolean;
}

export interface LoadResult {
  /** The valid pipelines, in file order. A pipeline with any issue is left out. */
  pipelines: PipelineConfig[];
  /** Every problem of every file, in file order. Empty when all is valid. */
  issues: ConfigIssue[];
  /** Risky settings of valid pipelines (they still load), located like issues. */
  warnings: ConfigIssue[];
  /** The files read, in the order read. */
  files: string[];
}

export interface PipelineText {
  file: string;
  text: string;
}

const YAML_FILE = new Set(['.yaml', '.yml']);
/** Pipeline tests (`passerelle test`) sit next to pipelines; they are not pipelines. */
export const PIPELINE_TEST_FILE = /\.test\.ya?ml$/i;

/**
 * Loads pipelines from files and folders. A folder contributes its `*.yaml` / `*.yml` files,
 * sorted by name, not recursively, skipping names starting with a dot (a Kubernetes ConfigMap
 * mounted as a folder holds its keys at the top and its own `..data` links, which must not count
 * twice) and pipeline tests (`*.test.yaml`).
 */
export async function loadPipelineFiles(
  paths: string[],
  registry: Registry,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const issues: ConfigIssue[] = [];
  const texts: PipelineText[] = [];
  // `validate pipelines/ pipelines/a.yaml` must not read a.yaml twice (it would clash with itself).
  const seen = new Set<string>();
  for (const path of paths) {
    let files: string[];
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        const entries = (await readdir(path))
          .filter(
            (n) =>
              !n.startsWith('.') && YAML_FILE.has(extname(n).toLowerCase()) && !PIPELINE_TEST_FILE.test(n),
          )
          .sort();
        files = [];
        for (const name of entries) if ((await stat(join(path, name))).isFile()) files.push(join(path, name));
        if (files.length === 0)
          issues.push({ file: path, path: '', message: 'no pipeline files (*.yaml, *.yml) in this folder' });
      } else files = [path];
    } catch (error) {
      issues.push({ file: path, path: '', message: fsReason(error) });
      continue;
    }
    for (const file of files) {
      if (seen.has(resolve(file))) continue;
      seen.add(resolve(file));
      try {
        texts.push({ file, text: await readFile(file, 'utf8') });
      } catch (error) {
        issues.push({ file, path: '', message: fsReason(error) });
      }
    }
  }
  const result = await loadPipelineTextsWithSpecs(texts, registry, options);
  return {
    pipelines: result.pipelines,
    issues: [...issues, ...result.issues],
    warnings: result.warnings,
    files: texts.map((t) => t.file),
  };
}

/** Like `loadPipelineFiles`, but throws a `ConfigError` with every issue. What `run` calls. */
export async function loadPipelinesOrThrow(
  paths: string[],
  registry: Registry,
  options: LoadOptions = {},
): Promise<PipelineConfig[]> {
  const result = await loadPipelineFiles(paths, registry, options);
  if (result.issues.length > 0) throw new ConfigError(result.issues);
  return result.pipelines;
}

/**
 * `loadPipelineTexts`, which also fills a registry whose specs load on demand (`passerelle run`,
 * src/registry/lazy.ts): validates again once the specs the texts named are loaded, and once more
 * with every spec when there are issues, so that the result is the one the full registry gives.
 */
export async function loadPipelineTextsWithSpecs(
  texts: PipelineText[],
  registry: Registry,
  options: LoadOptions = {},
): Promise<Omit<LoadResult, 'files'>> {
  let result = loadPipelineTexts(texts, registry, options);
  const { onDemand } = registry;
  if (!onDemand) return result;
  while (await onDemand.loadMissed()) result = loadPipelineTexts(texts, registry, options);
  if (result.issues.length > 0 && (await onDemand.loadAll()))
    result = loadPipelineTexts(texts, registry, options);
  return result;
}

/** Parses and validates pipeline texts (already read); pipeline names must be unique across all of them. */
export function loadPipelineTexts(
  texts: PipelineText[],
  registry: Registry,
  options: LoadOptions = {},
): Omit<LoadResult, 'files'> {
  const env = options.env ?? process.env;
  const pipelines: PipelineConfig[] = [];
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const names = new Map<string, string>();
  for (const { file, text } of texts) {
    const parsed = parseFile(file, text, registry, env, options.offline ?? false);
    issues.push(...parsed.issues);
    warnings.push(...parsed.warnings);
    for (const p of parsed.pipelines) {
      const where = `${file}:${p.nameAt.line}:${p.nameAt.column}`;
      const previous = names.get(p.config.name);
      if (previous) {
        issues.push({
          file,
          ...p.nameAt,
          path: 'name',
          message: `pipeline name ${p.nameOrigin ? `from ${p.nameOrigin}` : `'${p.config.name}'`} is already used at ${previous}`,
        });
        continue;
      }
      names.set(p.config.name, where);
      pipelines.push(p.config);
    }
  }
  return { pipelines, issues, warnings };
}

function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

interface Position {
  line: number;
  column: number;
}

/**
 * The yaml package (~1 MB of heap with its code), which only loading a config needs: required
 * on use and dropped 2 s after the last parse, so that an idle service does not keep it (issue 17);
 * a reload loads it again. Through require, not import: an ES import would keep it for good.
 */
export const yamlPackage = transientRequire((require) => require('yaml') as typeof import('yaml'), 2000);

interface ParsedPipeline {
  config: PipelineConfig;
  nameAt: Position;
  /** Set when the name came from a reference: messages say that instead of the name. */
  nameOrigin?: string;
}

function parseFile(
  file: string,
  text: string,
  registry: Registry,
  env: Record<string, string | undefined>,
  offline: boolean,
) {
  const { isScalar, LineCounter, parseAllDocuments } = yamlPackage.get();
  const lineCounter = new LineCounter();
  // `merge`: `<<: *defaults` lets several components share settings, as users know it from compose files.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const pipelines: ParsedPipeline[] = [];
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  // `parseAllDocuments` returns an EmptyStream for a file with no documents at all.
  const list = Array.isArray(docs) ? docs : [];
  let nonEmpty = 0;
  for (const doc of list) {
    if (doc.errors.length > 0) {
      // The first error only: the parser's later ones mostly follow from it (a flow map cut in
      // two gave 11 lines for one missing pair of quotes).
      const first = doc.errors[0]!;
      const at = position(first.pos[0]);
      const rest = doc.errors.length - 1;
      issues.push({
        file,
        ...at,
        path: '',
        message: [
          `YAML syntax: ${first.message.replace(/\s+/g, ' ').trim()}`,
          yamlHint(text.split(/\r?\n/)[at.line - 1] ?? '', first.code),
          rest > 0 ? `(${rest} more YAML error${rest === 1 ? '' : 's'} left out: fix this one first)` : '',
        ]
          .filter(Boolean)
          .join('; '),
      });
      continue;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    nonEmpty++;
    const locate = (path: readonly PathSegment[], atKey = false): Position =>
      position(locateOffset(doc, path, atKey));
    const toIssue = (raw: RawIssue): ConfigIssue => ({
      file,
      ...locate(raw.path, raw.atKey),
      path: formatPath(raw.path),
      message: raw.message,
    });
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (error) {
      issues.push({
        file,
        ...locate([]),
        path: '',
        message: error instanceof Error ? error.message : String(error),
      });
      continue;
    }
    const result = validateDocument(value, registry, { env, baseDir: dirname(file), offline });
    // In reading order, whatever order the schemas checked in.
    issues.push(...result.issues.map(toIssue).sort((a, b) => a.line! - b.line! || a.column! - b.column!));
    if (result.unchecked && result.unchecked.length > 0 && result.issues.length === 0)
      warnings.push(
        toIssue({
          path: [],
          message: `checked offline: ${result.unchecked.length === 1 ? 'the value' : 'the values'} of ${result.unchecked.join(', ')} ${result.unchecked.length === 1 ? 'comes' : 'come'} from \${env:} or \${file:} and ${result.unchecked.length === 1 ? 'was' : 'were'} not checked`,
        }),
      );
    warnings.push(...result.warnings.map(toIssue));
    if (result.config) {
      for (const w of pipelineWarnings(result.config, registry))
        warnings.push(toIssue({ path: w.path, message: w.message }));
      result.config.origin = { file, line: locate([]).line };
      pipelines.push({
        config: result.config,
        nameAt: locate(['name']),
        ...(result.nameOrigin ? { nameOrigin: result.nameOrigin } : {}),
      });
    }
  }
  if (nonEmpty === 0 && issues.length === 0)
    issues.push({ file, line: 1, column: 1, path: '', message: 'the file holds no pipeline' });
  return { issues, warnings, pipelines };
}

/** A hint for the usual causes of a YAML syntax error, from the line it is on. */
export function yamlHint(line: string, code: string): string {
  if (/^\s*\t/.test(line) || code === 'TAB_AS_INDENT')
    return 'hint: indent with spaces, YAML does not allow tabs there';
  if (/[{[]/.test(line))
    return "hint: in a flow map { ... } or list [ ... ], quote values that contain [ ] { } , (e.g. site: 'topic[0]'), or write the map as indented lines";
  if (/:\s+[^'"\s#][^#]*:\s/.test(line))
    return "hint: quote a value that contains ': ' (e.g. expression: 'a: b')";
  if (/:\s+[@`%]/.test(line)) return 'hint: quote a value that starts with @, ` or %';
  if (code === 'BAD_INDENT' || code === 'MISSING_CHAR' || code === 'BLOCK_AS_IMPLICIT_KEY')
    return 'hint: check the indentation of this line against the lines above it';
  return '';
}

/** Offset of the node at `path`; for a missing key, the nearest mapping or list that exists. */
function locateOffset(doc: Document, path: readonly PathSegment[], atKey: boolean): number {
  const { isAlias, isMap, isPair, isScalar, isSeq } = yamlPackage.get();
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(segment),
      );
      if (!pair) return offset;
      if (last && atKey) return rangeStart(pair.key) ?? offset;
      // `key:` with no value has no value node: point at the key.
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      node = node.items[segment];
    } else return offset;
    offset = rangeStart(node) ?? offset;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

// ---------------------------------------------------------------------------------------------

export interface ValidateContext {
  env: Record<string, string | undefined>;
  baseDir: string;
  /** References are left as written, and what the schemas say of those values is set aside. */
  offline?: boolean;
}

const keyOf = (path: readonly PathSegment[]): string => JSON.stringify(path);

/** Re-keys the interpolated values at or under `from` to `to` (a key renamed before parsing). */
function moveReferences(
  references: Map<string, Interpolation>,
  from: readonly PathSegment[],
  to: readonly PathSegment[],
): void {
  for (const [key, interpolation] of [...references]) {
    const p = interpolation.path;
    if (p.length < from.length || !from.every((s, i) => s === p[i])) continue;
    const path = [...to, ...p.slice(from.length)];
    references.delete(key);
    references.set(keyOf(path), { ...interpolation, path });
  }
}

/** A string value that held `${env:}` / `${file:}` references: its text as written, and what they resolved to. */
interface Interpolation {
  path: PathSegment[];
  raw: string;
  references: Reference[];
  value: string;
}

/**
 * Where an interpolated value came from, for messages that must not print it: `${file:/run/x}`
 * for a value that is one reference, the text as written (`"mqtt://${env:HOST}:1883"`) otherwise.
 */
function originOf(interpolation: Interpolation): string {
  const raw = interpolation.raw.trim();
  return /^\$\{[^}]*\}$/.test(raw) ? raw : JSON.stringify(interpolation.raw);
}

/** Sets an own property, even for `__proto__` (an assignment would change the prototype instead). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Validates one document (a plain value); returns the issues with document paths, and the config when valid. */
export function validateDocument(
  input: unknown,
  registry: Registry,
  ctx: ValidateContext,
): {
  config?: PipelineConfig;
  issues: RawIssue[];
  nameOrigin?: string;
  unchecked?: string[];
  /** Settings that load but should change (former key names). */
  warnings: RawIssue[];
} {
  const references = new Map<string, Interpolation>();
  const warnings: RawIssue[] = [];
  const result = { ...validateWithReferences(input, registry, ctx, references, warnings), warnings };
  if (!ctx.offline) return result;
  const interpolated = [...references.values()].map((r) => r.path);
  const within = (path: readonly PathSegment[]) =>
    interpolated.some((p) => p.length <= path.length && p.every((s, i) => s === path[i]));
  return {
    ...result,
    issues: result.issues.filter((i) => !within(i.path)),
    unchecked: interpolated.map((p) => formatPath(p)),
  };
}

function validateWithReferences(
  input: unknown,
  registry: Registry,
  ctx: ValidateContext,
  references: Map<string, Interpolation>,
  warnings: RawIssue[],
): { config?: PipelineConfig; issues: RawIssue[]; nameOrigin?: string } {
  const issues: RawIssue[] = [];
  const value = interpolateTree(input, [], ctx, references, issues);
  const unresolved = new Set(issues.map((i) => keyOf(i.path)));
  const originAt = (path: readonly PathSegment[]): string | undefined => {
    const interpolation = references.get(keyOf(path));
    return interpolation ? originOf(interpolation) : undefined;
  };

  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ path: [], message: 'a pipeline must be a mapping with at least name, source and sinks' });
    return { issues };
  }
  const doc = value as Record<string, unknown>;
  const { source, transforms, sinks, ...given } = doc;
  const rest = applyRenames(given, PIPELINE_RENAMED, [], issues, warnings, (from, to) =>
    moveReferences(references, from, to),
  );

  const options = pipelineOptions.safeParse(rest, { reportInput: true });
  if (!options.success) {
    issues.push(
      ...translateIssues(options.error.issues, {
        schema: pipelineOptions,
        prefix: [],
        value: rest,
        rootKeys: PIPELINE_KEYS,
        isSecretPath: () => false,
        originAt,
      }),
    );
  }

  const component = (kind: ComponentKind, item: unknown, path: PathSegment[]) =>
    validateComponent(kind, item, path, registry, references, originAt, issues, warnings);

  let sourceConfig: ComponentConfig | undefined;
  if (!('source' in doc)) issues.push({ path: ['source'], message: 'required key is missing' });
  else sourceConfig = component('source', source, ['source'])?.component;
  if (sourceConfig && options.success) {
    const spec = findComponent(registry, 'source', sourceConfig.type);
    const modes = spec ? sourceReadModes(spec) : [];
    if (options.data.schedule && spec && !modes.includes('tick'))
      issues.push({
        path: ['schedule'],
        message: `source ${sourceConfig.type} can not be read on a tick (it streams); remove \`schedule\` or use a source that can: ${schedulableSources(registry)}`,
      });
    if (!options.data.schedule && spec && !modes.includes('stream'))
      issues.push({
        path: ['source', 'type'],
        message: `source ${sourceConfig.type} is read on a schedule only: add \`schedule\` (e.g. \`schedule: { every: 15m }\`); see docs/scheduling.md`,
      });
  }

  const transformConfigs: (ComponentConfig | undefined)[] = [];
  if (transforms !== undefined && transforms !== null) {
    if (!Array.isArray(transforms))
      issues.push({ path: ['transforms'], message: 'expected a list of transforms' });
    else
      transforms.forEach((t, i) =>
        transformConfigs.push(component('transform', t, ['transforms', i])?.component),
      );
  }

  const sinkConfigs: (Omit<SinkConfig, 'name'> & { name?: string })[] = [];
  let sinksOk = true;
  if (!('sinks' in doc)) issues.push({ path: ['sinks'], message: 'required key is missing' });
  else if (!Array.isArray(sinks)) issues.push({ path: ['sinks'], message: 'expected a list of sinks' });
  else if (sinks.length === 0) issues.push({ path: ['sinks'], message: 'at least one sink is required' });
  else {
    sinks.forEach((s, i) => {
      const result = component('sink', s, ['sinks', i]);
      if (!result?.engine) {
        sinksOk = false;
        return;
      }
      const runOnly =
        options.success && !options.data.schedule ? sinkRunOnly(registry, result.component) : undefined;
      if (runOnly)
        issues.push({
          path: ['sinks', i, runOnly.key],
          message: `${runOnly.reason}: this pipeline has no \`schedule\` (add one, see docs/scheduling.md)`,
        });
      sinkConfigs.push({ ...result.component, ...result.engine });
    });
  }
  const named = sinksOk ? nameSinks(sinkConfigs, issues) : undefined;
  reportProtoKeys(value, [], issues);

  if (issues.length > 0 || !options.success || !sourceConfig || transformConfigs.some((t) => !t) || !named)
    return { issues: withoutInterpolatedValues(withoutFollowOns(issues, unresolved), references) };
  return {
    issues,
    ...(references.has(keyOf(['name'])) ? { nameOrigin: originAt(['name']) } : {}),
    config: {
      name: options.data.name,
      ...(options.data.description !== undefined ? { description: options.data.description } : {}),
      source: sourceConfig,
      transforms: transformConfigs as ComponentConfig[],
      sinks: named,
      maxUnsettled: options.data.maxUnsettled,
      deadLetters: options.data.deadLetters,
      shutdownTimeout: options.data.shutdownTimeout,
      ...(options.data.schedule ? { schedule: options.data.schedule } : {}),
    },
  };
}

/** Whether a sink's config needs a scheduled pipeline (`runOnly` of its spec). */
function sinkRunOnly(registry: Registry, sink: ComponentConfig): { key: string; reason: string } | undefined {
  const spec = findComponent(registry, 'sink', sink.type) as SinkEntry | undefined;
  return spec?.runOnly?.(sink.config);
}

/** The types of the sources a scheduled pipeline can read, for messages. */
function schedulableSources(registry: Registry): string {
  return (
    componentsOf(registry, 'source')
      .filter((spec) => sourceReadModes(spec).includes('tick'))
      .map((spec) => spec.type)
      .join(', ') || 'none is installed'
  );
}

/**
 * The last guard for messages written by component schemas (refinements that quote the value): any
 * interpolated value still in a message is replaced by where it came from. Quoted forms are
 * replaced whatever their length, bare text from 4 characters (shorter would hit unrelated words).
 */
function withoutInterpolatedValues(issues: RawIssue[], references: Map<string, Interpolation>): RawIssue[] {
  const replacements: [string, string][] = [];
  for (const interpolation of references.values()) {
    const origin = originOf(interpolation);
    for (const text of [interpolation.value, ...interpolation.references.map((r) => r.value)]) {
      if (text === '') continue;
      for (const quoted of [JSON.stringify(text), `"${text}"`, `'${text}'`])
        replacements.push([quoted, origin]);
      if (text.length >= 4) replacements.push([text, origin]);
    }
  }
  if (replacements.length === 0) return issues;
  // Longest first, so a value is not half-replaced by one of its parts.
  replacements.sort((a, b) => b[0].length - a[0].length);
  return issues.map((issue) => {
    let message = issue.message;
    for (const [text, origin] of replacements)
      if (message.includes(text)) message = message.split(text).join(origin);
    return message === issue.message ? issue : { ...issue, message };
  });
}

/**
 * A `__proto__` key that no schema reported: one in a map (`userProperties`), which zod drops
 * without a word. It can not be kept as a key of a plain object, so it is refused.
 */
function reportProtoKeys(value: unknown, path: PathSegment[], issues: RawIssue[]): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => reportProtoKeys(item, [...path, i], issues));
    return;
  }
  for (const key of Object.keys(value)) {
    const at = [...path, key];
    if (key === '__proto__' && !issues.some((i) => keyOf(i.path) === keyOf(at)))
      issues.push({ path: at, message: "key '__proto__' is not allowed (it can not be kept)", atKey: true });
    reportProtoKeys((value as Record<string, unknown>)[key], at, issues);
  }
}

/** A value whose reference could not be resolved is reported once, not again as an invalid value. */
function withoutFollowOns(issues: RawIssue[], unresolved: Set<string>): RawIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = keyOf(issue.path);
    if (!unresolved.has(key)) return true;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function interpolateTree(
  value: unknown,
  path: PathSegment[],
  ctx: ValidateContext,
  references: Map<string, Interpolation>,
  issues: RawIssue[],
): unknown {
  if (typeof value === 'string') {
    if (!hasInterpolation(value)) return value;
    if (ctx.offline) {
      // Left as written: the schemas' verdict on this value is set aside by the caller.
      references.set(keyOf(path), { path, raw: value, references: [], value });
      return value;
    }
    const result = interpolate(value, ctx);
    for (const message of result.errors) issues.push({ path, message });
    // Recorded even when resolution failed, so a secret is not also reported as a literal.
    if (result.references.length > 0 || result.errors.length > 0)
      references.set(keyOf(path), { path, raw: value, references: result.references, value: result.value });
    return result.value;
  }
  if (Array.isArray(value))
    return value.map((item, i) => interpolateTree(item, [...path, i], ctx, references, issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      setOwn(out, k, interpolateTree(v, [...path, k], ctx, references, issues));
    return out;
  }
  return value;
}

const KIND_LABEL: Record<ComponentKind, string> = { source: 'source', sink: 'sink', transform: 'transform' };

function validateComponent(
  kind: ComponentKind,
  item: unknown,
  path: PathSegment[],
  registry: Registry,
  references: Map<string, Interpolation>,
  originAt: (path: readonly PathSegment[]) => string | undefined,
  issues: RawIssue[],
  warnings: RawIssue[],
):
  | { component: ComponentConfig; engine?: Omit<SinkConfig, 'type' | 'config' | 'name'> & { name?: string } }
  | undefined {
  const available = componentsOf(registry, kind).map((d) => d.type);
  const availableText =
    available.length > 0
      ? `available: ${available.join(', ')}`
      : `no ${KIND_LABEL[kind]} types are available`;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    issues.push({ path, message: `expected a mapping with a 'type' key (${availableText})` });
    return undefined;
  }
  const { type, ...rest } = item as Record<string, unknown>;
  if (type === undefined) {
    issues.push({ path: [...path, 'type'], message: `required key is missing (${availableText})` });
    return undefined;
  }
  const definition: ComponentEntry | undefined =
    typeof type === 'string' ? findComponent(registry, kind, type) : undefined;
  if (!definition) {
    const origin = originAt([...path, 'type']);
    // A suggestion would tell how close the hidden value is to a known type: none for references.
    const suggestion = typeof type === 'string' && !origin ? didYouMean(type, available) : undefined;
    const hint = suggestion ? ` — did you mean '${suggestion}'?` : '';
    issues.push({
      path: [...path, 'type'],
      message: `unknown ${KIND_LABEL[kind]} type ${origin ? `from ${origin}` : JSON.stringify(type)}${hint} (${availableText})`,
    });
    return undefined;
  }

  // Sink engine keys (batch, retry, ...) sit beside the connector's own keys; split them off.
  let own: Record<string, unknown> = {};
  const engineInput: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest))
    setOwn(kind === 'sink' && SINK_ENGINE_KEYS.includes(k) ? engineInput : own, k, v);
  own = applyRenames(own, definition.renamed, path, issues, warnings, (from, to) =>
    moveReferences(references, from, to),
  );

  const schema = definition.config as z.ZodType;
  const secrets = secretPaths(schema);
  const before = issues.length;
  checkSecrets(own, secrets, path, references, issues);
  // A literal secret is reported once, not also as "expected string".
  const reported = new Set(issues.slice(before).map((i) => keyOf(i.path)));
  const isSecretPath = (relative: readonly PathSegment[]): boolean =>
    secrets.some((s) => matchesSchemaPath(relative, s));

  const parsed = schema.safeParse(own, { reportInput: true });
  if (!parsed.success) {
    const rootKeys = ['type', ...(kind === 'sink' ? SINK_ENGINE_KEYS : [])];
    const translated = translateIssues(parsed.error.issues, {
      schema,
      prefix: path,
      value: own,
      rootKeys,
      isSecretPath,
      originAt,
    });
    issues.push(...translated.filter((i) => !reported.has(keyOf(i.path))));
  }
  let engine: (Omit<SinkConfig, 'type' | 'config' | 'name'> & { name?: string }) | undefined;
  if (kind === 'sink') {
    const defaults = (definition as SinkEntry).batchDefaults;
    const given = engineInput.batch;
    if (
      defaults &&
      (given === undefined || (typeof given === 'object' && given !== null && !Array.isArray(given)))
    )
      engineInput.batch = { ...defaults, ...(given as Record<string, unknown> | undefined) };
    const e = sinkEngineOptions.safeParse(engineInput, { reportInput: true });
    if (e.success) engine = e.data;
    else
      issues.push(
        ...translateIssues(e.error.issues, {
          schema: sinkEngineOptions,
          prefix: path,
          value: engineInput,
          isSecretPath: () => false,
          originAt,
        }),
      );
  }
  if (!parsed.success || issues.length > before) return undefined;
  return { component: { type: definition.type, config: parsed.data }, engine };
}

/** Secret fields must come from a reference; the values they resolve to are registered for redaction. */
function checkSecrets(
  own: Record<string, unknown>,
  secrets: SchemaPath[],
  prefix: PathSegment[],
  references: Map<string, Interpolation>,
  issues: RawIssue[],
): void {
  for (const schemaPath of secrets) {
    for (const relative of expandPath(own, schemaPath)) {
      const value = getAt(own, relative);
      if (value === undefined || value === null) continue;
      const path = [...prefix, ...relative];
      const refs = references.get(keyOf(path))?.references;
      if (!refs || typeof value !== 'string') {
        issues.push({
          path,
          message: 'secrets must be given as ${env:NAME} or ${file:PATH}, not written in the pipeline file',
        });
        continue;
      }
      if (refs.length === 0) continue;
      for (const ref of refs) registerSecret(ref.value);
      registerSecret(value);
    }
  }
}

function nameSinks(
  sinks: (Omit<SinkConfig, 'name'> & { name?: string })[],
  issues: RawIssue[],
): SinkConfig[] | undefined {
  const before = issues.length;
  const explicit = new Map<string, number>();
  sinks.forEach((s, i) => {
    if (s.name === undefined) return;
    const previous = explicit.get(s.name);
    if (previous !== undefined)
      issues.push({
        path: ['sinks', i, 'name'],
        message: `sink name '${s.name}' is already used by sinks[${previous}]`,
      });
    else explicit.set(s.name, i);
  });
  const unnamedPerType = new Map<string, number>();
  for (const s of sinks)
    if (s.name === undefined) unnamedPerType.set(s.type, (unnamedPerType.get(s.type) ?? 0) + 1);
  const taken = new Set(explicit.keys());
  const out = sinks.map((s, i) => {
    if (s.name !== undefined) return { ...s, name: s.name };
    let name = unnamedPerType.get(s.type) === 1 && !taken.has(s.type) ? s.type : `${s.type}-${i}`;
    if (taken.has(name) || !NAME_PATTERN.test(name)) {
      issues.push({
        path: ['sinks', i],
        message: `cannot name this sink '${name}' (already used): give it a 'name'`,
      });
      name = `${s.type}-${i}`;
    }
    taken.add(name);
    return { ...s, name };
  });
  return issues.length > before ? undefined : out;
}
