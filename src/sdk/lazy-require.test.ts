import { describe, expect, it } from 'vitest';
import { lazyRequire } from './lazy-require.js';

describe('lazyRequire', () => {
  it('gives the package, the same one each time', () => {
    const first = lazyRequire<{ parse: unknown }>('yaml', 'A test');
    expect(typeof first.parse).toBe('function');
    expect(lazyRequire('yaml', 'A test')).toBe(first);
  });

  it('names the missing package, what needs it and how to install it', () => {
    expect(() => lazyRequire('passerelle-no-such-package', 'A JSONata expression (map, filter)')).toThrow(
      'A JSONata expression (map, filter) needs the package "passerelle-no-such-package", which is not installed: run `npm install passerelle-no-such-package`',
    );
  });
});
