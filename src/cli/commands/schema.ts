import type { Command } from 'commander';
import { buildPipelineJsonSchema } from '../../config/json-schema.js';
import type { CliDeps } from '../deps.js';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('schema')
    .description('print the JSON Schema of pipeline files (for editors: yaml-language-server)')
    .action(() => {
      deps.stdout(`${JSON.stringify(buildPipelineJsonSchema(deps.registry), null, 2)}\n`);
    });
}
