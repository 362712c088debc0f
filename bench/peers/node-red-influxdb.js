// Node-RED writing MQTT messages to InfluxDB, the flow a Node-RED user draws: mqtt in (parsed JSON)
// -> influxdb out (node-red-contrib-influxdb, InfluxDB 1.x mode). Installed next to Node-RED in
// .bench/node-red (gitignored) on first use.
import { join } from 'node:path';
import {
  ensureNodeRed,
  installedVersion,
  mqttInFlow,
  nodeRedPaths,
  npmInstall,
  writeNodeRed,
} from './node-red.js';

/** The latest release; it uses node-influx (~5.9) for InfluxDB 1.x. */
export const CONTRIB_VERSION = '0.7.0';

/** Installs Node-RED (pinned in node-red.js) and the pinned contrib node, unless already there. */
export async function ensureNodeRedInfluxdb(root, log) {
  await ensureNodeRed(root, log);
  if (installedVersion(root, 'node-red-contrib-influxdb') !== CONTRIB_VERSION)
    await npmInstall(root, `node-red-contrib-influxdb@${CONTRIB_VERSION}`, log);
}

/** Writes settings and flow into `dir`; returns the command line that starts Node-RED. */
export function prepareNodeRedInfluxdb(
  root,
  dir,
  { brokerPort, httpPort, influxPort, database, measurement, topic, qos },
) {
  const flows = [
    ...mqttInFlow({ brokerPort, topic, qos, next: 'bench-out' }),
    {
      id: 'bench-influx',
      type: 'influxdb',
      hostname: '127.0.0.1',
      port: String(influxPort),
      protocol: 'http',
      database,
      name: 'bench',
      usetls: false,
      tls: '',
      influxdbVersion: '1.x',
      url: '',
      rejectUnauthorized: true,
    },
    {
      id: 'bench-out',
      type: 'influxdb out',
      z: 'bench-tab',
      influxdb: 'bench-influx',
      name: 'out',
      measurement,
      precision: '',
      retentionPolicy: '',
      database: '',
      precisionV18FluxV20: 'ms',
      retentionPolicyV18Flux: '',
      org: '',
      bucket: '',
      x: 300,
      y: 100,
      wires: [],
    },
  ];
  // `nodesDir`: the contrib package (its .js + .html).
  const nodesDir = join(nodeRedPaths(root).prefix, 'node_modules', 'node-red-contrib-influxdb');
  return writeNodeRed(root, dir, { httpPort, flows, nodesDir });
}
