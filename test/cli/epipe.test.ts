import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

/** `passerelle schema | head` ends when head has read enough: quietly, as other Unix tools do. */
describe('a closed standard output', () => {
  it('ends `passerelle schema | head -1` quietly with exit 0 (no EPIPE stack trace)', () => {
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', 'node bin/passerelle.js schema | head -1'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(result.stdout).toBe('{\n');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  }, 60_000);
});
