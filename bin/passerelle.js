#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('passerelle is not built yet: run `npm run build` (or `npm ci`) in the project folder.');
  process.exit(1);
}
// A reader that closes the pipe early (`passerelle schema | head`) has all it wants: end quietly.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
// `run`: V8 heap settings for a long-running service, before anything else allocates; a user's own
// node flag or $PASSERELLE_V8_FLAGS wins (src/runtime/heap-settings.ts, docs/operations.md "Memory").
if (process.argv[2] === 'run') {
  (await import(new URL('../dist/src/runtime/heap-settings.js', import.meta.url).href)).applyHeapSettings();
  // Before mqtt.js loads: mqtt-packet's debug calls on every packet cost ~8 % of a relay's CPU
  // (connectors/mqtt/packet-debug.ts; DEBUG=mqtt-packet:* still turns them on).
  (
    await import(new URL('../dist/connectors/mqtt/packet-debug.js', import.meta.url).href)
  ).quietMqttPacketDebug();
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
// Everything is closed by now; a client library that still holds a timer must not keep a stopped service alive.
setTimeout(() => process.exit(), 5000).unref();
