import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { createOutboxBackend } from '../outbox/index.js';
import {
  clearSecretsForTests,
  createMessage,
  printable,
  printableLines,
  registerSecret,
} from '../sdk/index.js';
import { main } from './main.js';

/**
 * Message data printed by the command line can not drive the terminal: no raw control characters,
 * ANSI escape sequences or bidirectional overrides reach it, whichever command prints it.
 */

// Retitles the terminal, clears the screen, moves the cursor, rings the bell; 8-bit CSI; DEL; a
// bidi override that reverses the rest; a fake second line.
const HOSTILE =
  '\u001b]0;pwned\u0007\u001b[2J\u001b[1;1H\u009b31m\u007f\u202eevil\u2066x\u2069\r\nOK: all good';
// eslint-disable-next-line no-control-regex -- raw control characters are what the test looks for
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

async function run(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { env, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

describe('printable', () => {
  it('escapes C0, DEL, C1, bidi controls and line breaks, and keeps other text', () => {
    expect(printable('a\u001b[31mb\u0000c\u007fd\u009be\u202ef\u2066g\nh\ti\r\u2028é€😀\\')).toBe(
      'a\\u001b[31mb\\u0000c\\u007fd\\u009be\\u202ef\\u2066g\\nh\\ti\\r\\u2028é€😀\\',
    );
    expect(printableLines('a\nb\tc\u001bd\re')).toBe('a\nb\tc\\u001bd\\re');
  });

  it('keeps JSON valid and equal in value', () => {
    const value = { s: HOSTILE, [HOSTILE]: 1 };
    const text = printable(JSON.stringify(value));
    expect(text).not.toMatch(RAW);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('dlq list and show', () => {
  let redis: ServiceHandle;
  beforeAll(async () => {
    redis = await startRedis();
    const backend = await createOutboxBackend({
      redisUrl: redis.url,
      retention: { maxAgeMs: 3_600_000, maxCount: 1000 },
    });
    try {
      await backend.deadLetters.add([
        {
          pipeline: 'p',
          stage: 'transforms[0]',
          reason: `map: cannot read ${HOSTILE}`,
          message: createMessage({ id: 'm1', payload: { s: HOSTILE }, meta: { [`k${HOSTILE}`]: HOSTILE } }),
          time: Date.now(),
          attempts: 1,
        },
        {
          pipeline: 'p',
          stage: 'source',
          reason: 'bytes',
          message: createMessage({ id: 'm2', payload: Buffer.from(HOSTILE) }),
          time: Date.now(),
          attempts: 1,
        },
      ]);
    } finally {
      await backend.close();
    }
  }, 30_000);
  afterAll(() => redis?.dispose());

  it('list prints reasons escaped, one line each', async () => {
    const result = await run(['dlq', 'list', '--redis', redis.url]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(RAW);
    expect(result.stdout).toContain('map: cannot read \\u001b]0;pwned\\u0007\\u001b[2J');
    expect(result.stdout).toContain('\\u009b31m\\u007f\\u202eevil\\u2066x\\u2069\\r\\nOK: all good');
    // Header, two entries, the count: a payload can not add a line.
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(4);
  });

  it('list --json and show print valid JSON with the same values, escaped', async () => {
    const json = await run(['dlq', 'list', '--redis', redis.url, '--json']);
    expect(json.stdout).not.toMatch(RAW);
    const entries = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; reason: string; message: { payload: unknown } });
    const first = entries.find((e) => e.reason.startsWith('map:'))!;
    expect(first.message.payload).toEqual({ s: HOSTILE });

    const show = await run(['dlq', 'show', first.id, '--redis', redis.url]);
    expect(show.stdout).not.toMatch(RAW);
    expect((JSON.parse(show.stdout) as { message: { meta: unknown } }).message.meta).toEqual({
      [`k${HOSTILE}`]: HOSTILE,
    });
  });
});

describe('dead-letter reasons at rest', () => {
  // `dlq list` runs in another process, which knows no secrets: they must be masked when stored.
  it.each(['memory', 'redis'])(
    'are stored with secrets masked (%s store)',
    async (kind) => {
      const redis = kind === 'redis' ? await startRedis() : undefined;
      registerSecret('pa"ss\\word1');
      try {
        const backend = await createOutboxBackend({
          ...(redis ? { redisUrl: redis.url } : {}),
          retention: { maxAgeMs: 3_600_000, maxCount: 1000 },
        });
        try {
          await backend.deadLetters.add([
            {
              pipeline: 'p',
              stage: 'influxdb',
              reason: 'write refused: {"error":"token pa\\"ss\\\\word1 is not valid"} (redis://:pw@cache)',
              message: createMessage({ id: 'm1', payload: 1 }),
              time: Date.now(),
              attempts: 1,
            },
          ]);
          clearSecretsForTests();
          const [entry] = await backend.deadLetters.list();
          expect(entry!.reason).toBe(
            'write refused: {"error":"token *** is not valid"} (redis://:***@cache)',
          );
        } finally {
          await backend.close();
        }
      } finally {
        clearSecretsForTests();
        await redis?.dispose();
      }
    },
    30_000,
  );
});

describe('passerelle test', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'passerelle-hostile-output-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('compares outputs with constructor and __proto__ keys, and prints differences escaped', async () => {
    writeFileSync(
      join(tmp, 'keys.yaml'),
      `name: keys
source: { type: mqtt, url: 'mqtt://127.0.0.1:1883', topics: [t/#] }
transforms:
  - type: map
    expression: 'payload'
sinks:
  - type: log
`,
    );
    writeFileSync(
      join(tmp, 'keys.test.yaml'),
      `tests:
  - name: a constructor key that matches
    input: [{ payload: { constructor: 1, toString: 2 } }]
    output: [{ payload: { constructor: 1, toString: 2 } }]
  - name: a constructor key that differs
    input: [{ payload: { constructor: 1 } }]
    output: [{ payload: { constructor: 2 } }]
  - name: a constructor key that is missing
    input: [{ payload: { a: 1 } }]
    output: [{ payload: { a: 1, constructor: 1 } }]
  - name: a __proto__ key that is not expected
    input: [{ payload: { a: 1, __proto__: { polluted: true } } }]
    output: [{ payload: { a: 1 } }]
  - name: control characters in the difference
    input: [{ payload: { s: ${JSON.stringify(HOSTILE)} } }]
    output: [{ payload: { s: plain } }]
`,
    );
    const result = await run(['test', tmp]);
    expect(result.stderr).toBe('');
    expect(result.stdout).not.toMatch(RAW);
    expect(result.stdout).toContain('✓ a constructor key that matches');
    expect(result.stdout).toContain('output[0].payload.constructor: expected 2, got 1');
    expect(result.stdout).toContain('output[0].payload.constructor: missing, expected 1');
    expect(result.stdout).toContain('output[0].payload.__proto__: not expected, got {"polluted":true}');
    expect(result.stdout).toContain('output[0].payload.s: expected "plain", got "\\u001b]0;pwned\\u0007');
    expect(result.stdout).toContain('1 passed, 4 failed (1 file)');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('prints a dead-letter reason made from message data escaped', async () => {
    writeFileSync(
      join(tmp, 'reason.yaml'),
      `name: reason
source: { type: mqtt, url: 'mqtt://127.0.0.1:1883', topics: [t/#] }
transforms:
  - type: map
    expression: '$assert(false, payload.s)'
sinks:
  - type: log
`,
    );
    writeFileSync(
      join(tmp, 'reason.test.yaml'),
      `tests:
  - name: unexpected dead letter
    input: [{ payload: { s: ${JSON.stringify(HOSTILE)} } }]
    output: []
`,
    );
    const result = await run(['test', join(tmp, 'reason.test.yaml')]);
    expect(result.stdout).toContain('dead letter not expected: transforms[0]');
    expect(result.stdout).not.toMatch(RAW);
    expect(result.stdout).toContain('\\u001b]0;pwned');
  });
});
