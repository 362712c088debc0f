import * as crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nodeCrypto, uniqueHex } from './node-crypto.js';

describe('nodeCrypto and uniqueHex', () => {
  it('nodeCrypto() is node:crypto', () => {
    expect(nodeCrypto().createHash).toBe(crypto.createHash);
    expect(nodeCrypto()).toBe(nodeCrypto());
  });

  it('uniqueHex(n) gives n bytes as lowercase hex, different each time', () => {
    const ids = Array.from({ length: 1000 }, () => uniqueHex(6));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Every nibble value turns up: the bytes span 0-255, padded.
    expect(new Set(ids.join(''))).toHaveProperty('size', 16);
  });
});
