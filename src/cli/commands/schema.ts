import type { Command } from 'commander';
import { buildPipelineJsonSchema } from '../../config/json-schema.js';
import type { CliDeps } from '../deps.js';
import { buildPipelineTestJsonSchema } from '../pipeline-tests.js';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('schema')
    .description('print the JSON Schema of pipeline files (for editors: yaml-language-server)')
    .option('--tests', 'the JSON Schema of pipeline test files (*.test.yaml) instead')
    .action((options: { tests?: boolean }) => {
      const schema = options.tests ? buildPipelineTestJsonSchema() : buildPipelineJsonSchema(deps.registry);
      deps.stdout(`${JSON.stringify(schema, null, 2)}\n`);
    });
}
