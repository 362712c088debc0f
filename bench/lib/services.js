/* global fetch */
// Private Mosquitto, Redis and InfluxDB on free loopback ports, each with its own temporary folder: the test
// harness's (test/harness/services.ts, compiled into dist/ by `npm run build`, which `npm run bench`
// runs first), with every process tracked so that the bench kills it on exit.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './procs.js';

const built = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), 'dist/test/harness');
const load = (file) =>
  import(join(built, file)).catch((error) => {
    throw new Error(`${built}/${file} is missing: run \`npm run build\` first (${error.message})`);
  });
const harness = await load('services.js');
const influxdb = await load('influxdb.js');

export const { freePort } = await load('ports.js');

/**
 * The harness's Mosquitto without persistence (a throughput bench never restarts the broker, the
 * same for every relay). `defaults: true`: Mosquitto's own defaults for queues and sockets, the
 * set-up most users have; otherwise the harness's large queues and in-flight windows, so that the
 * broker never silently drops QoS 1 messages for a slow subscriber.
 */
export function startMosquitto(parentDir, { defaults = false } = {}) {
  return harness.startMosquitto({ parentDir, persistence: false, brokerDefaults: defaults, onSpawn: track });
}

export function startRedis(parentDir) {
  return harness.startRedis({ parentDir, onSpawn: track });
}

/** The harness's InfluxDB 1.x (no authentication), with the version it reports. */
export async function startInfluxDB(parentDir) {
  const handle = await influxdb.startInfluxDB({ parentDir, onSpawn: track });
  const ping = await fetch(`${handle.url}/ping`);
  return Object.assign(handle, { version: ping.headers.get('x-influxdb-version') });
}
