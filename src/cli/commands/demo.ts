import { createServer, type Server } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadPipelinesOrThrow } from '../../config/index.js';
import { parseDuration } from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';
import { projectRoot } from '../version.js';
import { startOpcuaSimulator } from '../../../connectors/opcua/simulator.js';
import { LOG_FORMAT_OPTION, runService } from './run.js';

/** Starts an embedded MQTT broker (aedes) on a free loopback port: the demo needs nothing installed. */
export async function startEmbeddedBroker(): Promise<{ url: string; close(): Promise<void> }> {
  // Loaded here, not at the top: `run` should not pay for a broker it never starts.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => broker.close(() => resolve()));
      }),
  };
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('demo')
    .description(
      'run the demo: simulated sensors -> embedded MQTT broker -> relay pipeline -> MQTT and the log, and an OPC UA plant simulator -> MQTT (no Redis, free ports)',
    )
    .option(
      '--http <host:port>',
      'address of the HTTP endpoints (default: a free port on 127.0.0.1)',
      '127.0.0.1:0',
    )
    .option('--duration <duration>', 'stop after this long (e.g. 30s); default: until Ctrl-C')
    .option(...LOG_FORMAT_OPTION)
    .action(async (options: { http: string; duration?: string; logFormat?: string }) => {
      const broker = await startEmbeddedBroker();
      let opcua: Awaited<ReturnType<typeof startOpcuaSimulator>> | undefined;
      try {
        opcua = await startOpcuaSimulator({
          port: 0,
          pkiFolder: join(
            deps.env.XDG_CONFIG_HOME || join(homedir(), '.config'),
            'passerelle',
            'opcua-simulator-pki',
          ),
        });
      } catch (error) {
        await broker.close();
        throw error;
      }
      const env = {
        ...deps.env,
        PASSERELLE_DEMO_MQTT_URL: broker.url,
        PASSERELLE_DEMO_OPCUA_URL: opcua.endpointUrl,
      };
      try {
        const pipelines = await loadPipelinesOrThrow([join(projectRoot(), 'pipelines/demo')], deps.registry, {
          env,
        });
        deps.stderr(
          `Demo broker: ${broker.url}  (watch it: mosquitto_sub -h 127.0.0.1 -p ${new URL(broker.url).port} -t 'demo/#' -v)\n`,
        );
        deps.stderr(
          `Demo OPC UA server: ${opcua.endpointUrl}  (plant variables under Objects/Plant, published to demo/opcua/...)\n`,
        );
        const stopAfter = options.duration ? parseDuration(options.duration) : undefined;
        if (options.duration && stopAfter === undefined)
          throw new Error(`--duration: expected e.g. 30s, got "${options.duration}"`);
        const code = await runService(
          pipelines,
          { http: options.http, ...(options.logFormat ? { logFormat: options.logFormat } : {}) },
          { ...deps, env },
          () => {
            if (stopAfter !== undefined)
              setTimeout(() => process.kill(process.pid, 'SIGTERM'), stopAfter).unref();
          },
        );
        deps.setExitCode(code);
      } finally {
        await opcua.close();
        await broker.close();
      }
    });
}
