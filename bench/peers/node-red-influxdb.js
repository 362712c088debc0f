// Node-RED writing MQTT messages to InfluxDB, the flow a Node-RED user draws: mqtt in (parsed JSON)
// -> influxdb out (node-red-contrib-influxdb, InfluxDB 1.x mode). Installed next to Node-RED in
// .bench/node-red (gitignored) on first use.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNodeRed, nodeRedPaths } from './node-red.js';

/** The latest release; it uses node-influx (~5.9) for InfluxDB 1.x. */
export const CONTRIB_VERSION = '0.7.0';

function installedContribVersion(root) {
  const { prefix } = nodeRedPaths(root);
  try {
    return JSON.parse(
      readFileSync(join(prefix, 'node_modules', 'node-red-contrib-influxdb', 'package.json'), 'utf8'),
    ).version;
  } catch {
    return null;
  }
}

/** Installs Node-RED (pinned in node-red.js) and the pinned contrib node, unless already there. */
export async function ensureNodeRedInfluxdb(root, log) {
  await ensureNodeRed(root, log);
  if (installedContribVersion(root) === CONTRIB_VERSION) return;
  const { prefix } = nodeRedPaths(root);
  log(
    `installing node-red-contrib-influxdb@${CONTRIB_VERSION} into ${prefix} (once; needs the npm registry)`,
  );
  await new Promise((resolve, reject) => {
    execFile(
      'npm',
      [
        'install',
        '--prefix',
        prefix,
        '--save-exact',
        `node-red-contrib-influxdb@${CONTRIB_VERSION}`,
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
      ],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) =>
        err
          ? reject(
              new Error(
                `npm install node-red-contrib-influxdb failed: ${String(stderr).slice(-1500) || err.message}`,
              ),
            )
          : resolve(),
    );
  });
}

/** Writes settings and flow into `dir`; returns the command line that starts Node-RED. */
export function prepareNodeRedInfluxdb(
  root,
  dir,
  { brokerPort, httpPort, influxPort, database, measurement, topic, qos },
) {
  const { entry, prefix } = nodeRedPaths(root);
  const userDir = join(dir, 'user');
  mkdirSync(userDir, { recursive: true });
  const flows = [
    { id: 'bench-tab', type: 'tab', label: 'bench', disabled: false, info: '' },
    {
      id: 'bench-broker',
      type: 'mqtt-broker',
      name: 'bench',
      broker: '127.0.0.1',
      port: String(brokerPort),
      clientid: '',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
      sessionExpiry: '',
    },
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
      id: 'bench-in',
      type: 'mqtt in',
      z: 'bench-tab',
      name: 'in',
      topic,
      qos: String(qos),
      datatype: 'json',
      broker: 'bench-broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      x: 100,
      y: 100,
      wires: [['bench-out']],
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
  const flowFile = join(userDir, 'flows.json');
  writeFileSync(flowFile, JSON.stringify(flows, null, 2));
  // As in node-red.js: offline and headless; `nodesDir` points at the contrib package (its .js + .html).
  const settings = `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${httpPort},
  flowFile: ${JSON.stringify(flowFile)},
  userDir: ${JSON.stringify(userDir)},
  nodesDir: ${JSON.stringify(join(prefix, 'node_modules', 'node-red-contrib-influxdb'))},
  credentialSecret: 'bench-only',
  disableEditor: true,
  httpAdminRoot: false,
  httpNodeRoot: false,
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  runtimeState: { enabled: false, ui: false },
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
`;
  const settingsFile = join(dir, 'settings.js');
  writeFileSync(settingsFile, settings);
  return {
    cmd: process.execPath,
    args: [entry, '--settings', settingsFile, '--userDir', userDir, '--port', String(httpPort), flowFile],
    env: { NODE_RED_ENABLE_PROJECTS: 'false' },
  };
}
