import type { Command } from 'commander';
import { redact } from '../../sdk/index.js';
import { effectiveDelivery, formatDeliveryCaveats, formatDeliveryLine } from '../../config/delivery.js';
import { formatIssue } from '../../config/issues.js';
import { loadPipelineFiles } from '../../config/load.js';
import { scheduleCaveats } from '../../engine/schedule/caveats.js';
import type { CliDeps } from '../deps.js';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('validate')
    .description('check pipeline files and print the delivery guarantee of each pipeline')
    .argument(
      '[paths...]',
      'pipeline files or folders (*.yaml, *.yml; folders are not searched recursively)',
      ['pipelines/'],
    )
    .option(
      '--offline',
      'do not resolve ${env:} and ${file:} (lint in CI without the secrets): the values that hold them are not checked',
    )
    .action(async (paths: string[], options: { offline?: boolean }) => {
      const result = await loadPipelineFiles(paths, deps.registry, {
        env: deps.env,
        offline: options.offline ?? false,
      });
      for (const issue of result.issues) deps.stderr(`${formatIssue(issue)}\n`);
      for (const warning of result.warnings)
        deps.stderr(`${formatIssue({ ...warning, message: `warning: ${warning.message}` })}\n`);
      for (const pipeline of result.pipelines) {
        const report = effectiveDelivery(pipeline, deps.registry);
        deps.stdout(`${redact(formatDeliveryLine(pipeline, report))}\n`);
        for (const caveat of formatDeliveryCaveats(report)) deps.stdout(`${redact(caveat)}\n`);
        for (const caveat of scheduleCaveats(pipeline.schedule, deps.env.PASSERELLE_REDIS_URL))
          deps.stdout(`${caveat}\n`);
      }
      if (result.issues.length > 0) {
        deps.stderr(`${result.issues.length} problem${result.issues.length === 1 ? '' : 's'} found\n`);
        deps.setExitCode(1);
      }
    });
}
