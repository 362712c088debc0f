/**
 * The README's two commands work as written on a fresh machine: the demo starts without a
 * rebuild (no `npx`, which with npm 11 copies and rebuilds the project silently), and one command
 * sets the machine up for the tests (the same script as CI) and runs them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

/** The shell blocks under the "Two commands" heading. */
function twoCommands(): string[] {
  const section = readme.slice(
    readme.indexOf('## Two commands'),
    readme.indexOf('\n## ', readme.indexOf('## Two commands') + 3),
  );
  return [...section.matchAll(/```sh\n([^`]*)```/g)].map((m) => m[1]!.trim());
}

describe('first run', () => {
  it('the README gives two commands, neither through npx', () => {
    expect(twoCommands()).toEqual(['npm ci && npm run demo', 'npm ci && npm run test:machine']);
    expect(readme).not.toMatch(/^npx passerelle/m);
  });

  it('npm run demo starts the built CLI at once, with no build step', () => {
    expect(pkg.scripts.demo).toBe('node bin/passerelle.js demo');
    expect(pkg.scripts.passerelle).toBe('node bin/passerelle.js');
    // `npm ci` builds (prepare) in the foreground, where npm shows its output.
    expect(pkg.scripts.prepare).toBe('npm run build');
  });

  it('test:machine sets the machine up with the script CI uses, which runs apt-get update first', () => {
    expect(pkg.scripts['test:machine']).toBe('scripts/setup-test-machine.sh && npm test');
    // CI runs the README's test command itself, set-up included.
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toMatch(/^npm run test:machine$/m);
    const script = readFileSync(join(root, 'scripts/setup-test-machine.sh'), 'utf8');
    expect(script.indexOf('apt-get update')).toBeGreaterThan(0);
    expect(script.indexOf('apt-get update')).toBeLessThan(script.indexOf('apt-get install'));
    expect(spawnSync('bash', ['-n', join(root, 'scripts/setup-test-machine.sh')]).status).toBe(0);
  });

  it('on this (set-up) machine the script finds everything and changes nothing', () => {
    const result = spawnSync(join(root, 'scripts/setup-test-machine.sh'), { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toContain('every package the tests need is installed');
    expect(result.status).toBe(0);
  });
});
