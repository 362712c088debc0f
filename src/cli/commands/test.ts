import type { Command } from 'commander';
import { findTestFiles, runTestFile } from '../pipeline-tests.js';
import { printable } from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';

export function register(program: Command, deps: CliDeps): void {
  program
    .command('test')
    .description(
      "run pipeline tests (*.test.yaml next to the pipelines): input messages through each pipeline's transforms, compared with the expected output and dead letters; no network",
    )
    .argument('[paths...]', 'test files or folders (searched recursively)', ['pipelines/'])
    .action(async (paths: string[]) => {
      const { files, missing } = await findTestFiles(paths);
      for (const path of missing) deps.stderr(`${path}: no such file or folder\n`);
      if (files.length === 0) {
        deps.stderr('no pipeline tests (*.test.yaml) found\n');
        deps.setExitCode(1);
        return;
      }
      let passed = 0;
      let failed = 0;
      for (const file of files) {
        const result = await runTestFile(file, deps.registry);
        // Names, differences and reasons carry message data: escaped, one line each.
        deps.stdout(`${printable(file)}\n`);
        for (const error of result.errors) deps.stdout(`  ✗ ${printable(error)}\n`);
        if (result.errors.length > 0) failed++;
        for (const c of result.cases) {
          if (c.failures.length === 0) {
            passed++;
            deps.stdout(`  ✓ ${printable(c.name)}\n`);
          } else {
            failed++;
            deps.stdout(`  ✗ ${printable(c.name)}\n`);
            for (const f of c.failures) deps.stdout(`      ${printable(f)}\n`);
          }
        }
      }
      deps.stdout(
        `\n${passed} passed, ${failed} failed (${files.length} file${files.length === 1 ? '' : 's'})\n`,
      );
      if (failed > 0 || missing.length > 0) deps.setExitCode(1);
    });
}
