#!/usr/bin/env node
// Rewrites the generated files from the built-in components' config schemas (DESIGN.md §5):
//   - pipelines/pipeline.schema.json, the JSON Schema of pipeline files for editors;
//   - pipelines/pipeline-test.schema.json, the JSON Schema of *.test.yaml files;
//   - the section between <!-- config:start --> and <!-- config:end --> of each component README.
// It reads the compiled code: run `npm run build && node scripts/generate.js`.
// test/generated.test.ts fails when a committed file differs from what this script writes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const dist = new URL('dist/src/', root);
if (!existsSync(fileURLToPath(new URL('config/index.js', dist)))) {
  console.error('dist/ is missing: run `npm run build && node scripts/generate.js`.');
  process.exit(1);
}
const { builtinRegistry } = await import(new URL('registry/index.js', dist).href);
const { buildPipelineJsonSchema, replaceConfigSection, CONFIG_START, CONFIG_END } = await import(
  new URL('config/index.js', dist).href
);

const IGNORE_START = '<!-- prettier-ignore-start -->';
const IGNORE_END = '<!-- prettier-ignore-end -->';

/** Where a component's README is: connectors/<type>/ or src/transforms/<type>/. */
function readmeOf(definition) {
  return definition.kind === 'transform'
    ? `src/transforms/${definition.type}/README.md`
    : `connectors/${definition.type}/README.md`;
}

/** Puts the generated section inside prettier-ignore markers (prettier would realign the table). */
function ensurePrettierIgnore(text) {
  let out = text;
  const start = out.indexOf(CONFIG_START);
  if (!out.slice(0, start).trimEnd().endsWith(IGNORE_START))
    out = `${out.slice(0, start)}${IGNORE_START}\n${out.slice(start)}`;
  const end = out.indexOf(CONFIG_END) + CONFIG_END.length;
  if (!out.slice(end).trimStart().startsWith(IGNORE_END))
    out = `${out.slice(0, end)}\n${IGNORE_END}${out.slice(end)}`;
  return out;
}

const { buildPipelineTestJsonSchema } = await import(new URL('cli/pipeline-tests.js', dist).href);

const files = new Map();
files.set(
  'pipelines/pipeline.schema.json',
  `${JSON.stringify(buildPipelineJsonSchema(builtinRegistry), null, 2)}\n`,
);
files.set(
  'pipelines/pipeline-test.schema.json',
  `${JSON.stringify(buildPipelineTestJsonSchema(), null, 2)}\n`,
);

const byReadme = new Map();
for (const d of [...builtinRegistry.sources, ...builtinRegistry.sinks, ...builtinRegistry.transforms]) {
  const path = readmeOf(d);
  byReadme.set(path, [...(byReadme.get(path) ?? []), d]);
}
let failed = false;
for (const [path, definitions] of byReadme) {
  const file = fileURLToPath(new URL(path, root));
  if (!existsSync(file)) {
    console.error(`${path}: missing (every component needs a README with a ${CONFIG_START} section)`);
    failed = true;
    continue;
  }
  try {
    const text = readFileSync(file, 'utf8');
    files.set(
      path,
      ensurePrettierIgnore(
        replaceConfigSection(text, definitions.length === 1 ? definitions[0] : definitions),
      ),
    );
  } catch (error) {
    console.error(`${path}: ${error.message}`);
    failed = true;
  }
}

for (const [path, content] of files) {
  const file = fileURLToPath(new URL(path, root));
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (before === content) {
    console.log(`unchanged  ${path}`);
  } else {
    writeFileSync(file, content);
    console.log(`written    ${path}`);
  }
}
if (failed) process.exitCode = 1;
