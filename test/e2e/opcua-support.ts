/**
 * Shared by the OPC UA tests: a PKI folder reused by every test file and run (certificates are
 * made once), node-opcua's default folders kept out of the home directory, and helpers to read
 * messages from a source.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message, Source } from '../../src/sdk/index.js';

export const TEST_ROOT = join(tmpdir(), `passerelle-opcua-tests-${process.getuid?.() ?? 0}`);
mkdirSync(TEST_ROOT, { recursive: true });
// node-opcua creates default PKI folders under $XDG_CONFIG_HOME even when given managers.
process.env.XDG_CONFIG_HOME = join(TEST_ROOT, 'xdg');

/** The server's certificate store, shared by the test files (one server identity). */
export const SERVER_PKI = join(TEST_ROOT, 'server-pki');

/** A client certificate store; `name` gives each client identity (application name) its own. */
export function clientPki(name: string): string {
  return join(TEST_ROOT, 'client-pki', name);
}

/** Reads deliveries (acking them) until `until` is satisfied by what arrived, or the timeout. */
export async function collect(
  source: Source,
  until: (messages: Message[]) => boolean,
  timeoutMs = 15_000,
): Promise<Message[]> {
  const messages: Message[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  while (!until(messages)) {
    if (signal.aborted) throw new Error(`timed out after ${timeoutMs} ms; got ${messages.length} message(s)`);
    const d = await source.read(signal);
    if (!d) continue;
    messages.push(...d.messages);
    d.ack();
  }
  return messages;
}

export function byName(messages: Message[]): Map<string, Message> {
  const map = new Map<string, Message>();
  for (const m of messages) map.set(String(m.meta['opcua.name']), m);
  return map;
}
