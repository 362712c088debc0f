import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PLANT_NAMESPACE, startOpcuaSimulator } from '../../../connectors/opcua/simulator.js';
import { parseDuration, registerSecret } from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';

interface SimulateOpcuaOptions {
  port: string;
  host: string;
  user?: string;
  passwordFile?: string;
  secure?: boolean;
  interval: string;
  items: string;
  pki?: string;
  duration?: string;
}

function integer(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${what}: expected an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

/** The simulator's own certificate store: one per user, outside the working directory. */
function defaultSimulatorPki(env: CliDeps['env']): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'passerelle', 'opcua-simulator-pki');
}

export function register(program: Command, deps: CliDeps): void {
  const simulate = program
    .command('simulate')
    .description('run a simulated device or server to try pipelines without hardware');
  simulate
    .command('opcua')
    .description(
      'start an OPC UA server with plant-like variables (temperatures, pressures, motor speeds, counters, an alarm, an analog item with an EU range, writable setpoints) that change over time',
    )
    .option('--port <port>', 'TCP port (0: a free one)', '4840')
    .option('--host <name>', 'host name advertised in the endpoint URL', '127.0.0.1')
    .option(
      '--user <name>',
      'require this user name (with --password-file); anonymous access is then refused',
    )
    .option('--password-file <path>', 'file holding the password of --user')
    .option(
      '--secure',
      'offer only Sign and SignAndEncrypt endpoints (Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss)',
    )
    .option('--interval <duration>', 'how often the values change', '1s')
    .option(
      '--items <count>',
      'extra Double variables under Plant/Load, each changing once per interval (load tests)',
      '0',
    )
    .option(
      '--pki <folder>',
      "the server's certificate store (default: $XDG_CONFIG_HOME/passerelle/opcua-simulator-pki)",
    )
    .option('--duration <duration>', 'stop after this long; default: until Ctrl-C')
    .action(async (options: SimulateOpcuaOptions) => {
      const port = integer(options.port, '--port', 0, 65_535);
      const items = integer(options.items, '--items', 0, 100_000);
      const interval = parseDuration(options.interval);
      if (interval === undefined || interval < 10)
        throw new Error(`--interval: expected a duration of at least 10ms, got "${options.interval}"`);
      if ((options.user === undefined) !== (options.passwordFile === undefined))
        throw new Error('--user and --password-file go together');
      let users: Record<string, string> | undefined;
      if (options.user !== undefined && options.passwordFile !== undefined) {
        let password: string;
        try {
          password = readFileSync(options.passwordFile, 'utf8').trim();
        } catch (error) {
          throw new Error(`--password-file ${options.passwordFile}: ${(error as Error).message}`);
        }
        if (password === '') throw new Error(`--password-file ${options.passwordFile} is empty`);
        registerSecret(password);
        users = { [options.user]: password };
      }
      const stopAfter = options.duration === undefined ? undefined : parseDuration(options.duration);
      if (options.duration !== undefined && stopAfter === undefined)
        throw new Error(`--duration: expected e.g. 30s, got "${options.duration}"`);
      const sim = await startOpcuaSimulator({
        port,
        hostname: options.host,
        pkiFolder: options.pki ?? defaultSimulatorPki(deps.env),
        users,
        secure: options.secure === true,
        interval,
        loadItems: items,
      });
      const ns = sim.namespaceIndex;
      deps.stderr(
        [
          `OPC UA simulator listening: ${sim.endpointUrl}`,
          `  security: ${options.secure ? 'Sign, SignAndEncrypt only' : 'None, Sign, SignAndEncrypt'}; users: ${users ? `${options.user} (anonymous refused)` : 'anonymous allowed'}`,
          `  server certificate SHA-1: ${sim.certificateFingerprint}  (trustedServerFingerprints)`,
          `  namespace ${PLANT_NAMESPACE} = ns=${ns}; variables under Objects/Plant, e.g.`,
          `    nsu=${PLANT_NAMESPACE};s=Line1.Temperature   (browse path Plant/Line1/Temperature)`,
          `    nsu=${PLANT_NAMESPACE};s=Line1.TankLevel     (AnalogItem, EURange 0..100)`,
          `    nsu=${PLANT_NAMESPACE};s=Setpoints.TargetTemperature   (writable)`,
          items > 0
            ? `    nsu=${PLANT_NAMESPACE};s=Load.Item00001 .. Load.Item${String(items).padStart(5, '0')}`
            : '',
          'Stop with Ctrl-C.',
          '',
        ]
          .filter((l) => l !== '')
          .join('\n') + '\n',
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (stopAfter !== undefined) setTimeout(stop, stopAfter).unref();
      });
      await sim.close();
    });
}
