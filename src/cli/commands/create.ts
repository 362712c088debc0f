import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createPipeline } from '../../config/create.js';
import type { CliDeps } from '../deps.js';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('create')
    .description(
      'write a commented pipeline for a source, sinks and transforms, with every required option and the others commented out (e.g. `passerelle create mqtt influxdb map > plant.yaml`)',
    )
    .argument('<source>', 'source type (`passerelle connectors` lists them)')
    .argument('<sinks>', 'sink type, or several separated by commas (mqtt,log)')
    .argument('[transforms...]', 'transform types, in the order they run')
    .option('-o, --output <file>', 'write to this file (refused if it exists) instead of stdout')
    .action((source: string, sinks: string, transforms: string[], options: { output?: string }) => {
      const text = createPipeline(deps.registry, source, sinks.split(',').filter(Boolean), transforms);
      if (!options.output) return deps.stdout(text);
      if (existsSync(options.output)) throw new Error(`${options.output} exists: not overwritten`);
      writeFileSync(options.output, text, { flag: 'wx' });
      deps.stderr(
        `wrote ${options.output}; check it with: passerelle validate --offline ${options.output}\n`,
      );
    });
}
