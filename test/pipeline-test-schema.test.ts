/**
 * The JSON Schema of `*.test.yaml` files: committed up to date, with the `$id` the README
 * publishes, and it accepts every test file of the project and refuses a wrong one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildPipelineTestJsonSchema, PIPELINE_TEST_SCHEMA_ID } from '../src/cli/pipeline-tests.js';

const root = new URL('../', import.meta.url).pathname;
const committed = readFileSync(join(root, 'pipelines/pipeline-test.schema.json'), 'utf8');
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(committed) as object);

const testFiles = ['pipelines/examples', 'pipelines/demo'].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.test.yaml'))
    .map((f) => `${dir}/${f}`),
);

describe('pipelines/pipeline-test.schema.json', () => {
  it('is up to date (npm run generate) and its $id is in the README', () => {
    expect(committed).toBe(`${JSON.stringify(buildPipelineTestJsonSchema(), null, 2)}\n`);
    expect(JSON.parse(committed)).toMatchObject({ $id: PIPELINE_TEST_SCHEMA_ID });
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(PIPELINE_TEST_SCHEMA_ID);
  });

  it.each(testFiles)('accepts %s', (file) => {
    const ok = validate(parse(readFileSync(join(root, file), 'utf8')));
    expect(ok, ajv.errorsText(validate.errors)).toBe(true);
  });

  it('refuses a misspelt key and a test without input', () => {
    expect(validate({ tests: [{ name: 'a', input: [{ payload: 1 }], outptu: [] }] })).toBe(false);
    expect(validate({ tests: [{ name: 'a', input: [] }] })).toBe(false);
  });
});
