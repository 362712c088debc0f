import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

interface Outcome {
  installed: boolean | null;
  again: boolean;
  topic: string;
  parserLogger: boolean;
  otherLogger: boolean;
  stderr: string;
}

/** The fixture in a child process (a fresh module cache), with DEBUG as given. */
async function child(debug: string, args: string[] = []): Promise<Outcome> {
  const fixture = fileURLToPath(new URL('./fixtures/packet-debug.mjs', import.meta.url));
  const env = { ...process.env, DEBUG: debug, DEBUG_COLORS: 'no' };
  const { stdout, stderr } = await run(process.execPath, [fixture, ...args], { env });
  return { ...(JSON.parse(stdout) as Omit<Outcome, 'stderr'>), stderr };
}

describe('quietMqttPacketDebug', () => {
  it('hands mqtt-packet a no-op logger when its namespace is off; the parser works the same', async () => {
    const quiet = await child('');
    expect(quiet).toMatchObject({ installed: true, again: false, topic: 'a/b' });
    expect(quiet.parserLogger).toBe(false);
    // Other namespaces get real loggers.
    expect(quiet.otherLogger).toBe(true);
    expect(quiet.stderr).not.toContain('mqtt-packet');
    // Without it, `debug` hands out its own loggers.
    const plain = await child('', ['--without']);
    expect(plain).toMatchObject({ installed: null, again: false, topic: 'a/b', parserLogger: true });
  }, 60_000);

  it('leaves mqtt-packet its loggers when DEBUG turns them on at start', async () => {
    const loud = await child('mqtt-packet:*');
    expect(loud).toMatchObject({ installed: true, topic: 'a/b', parserLogger: true });
    expect(loud.stderr).toContain('mqtt-packet:parser');
  }, 60_000);
});
