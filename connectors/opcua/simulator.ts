import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as Opcua from 'node-opcua';
import { loadOpcua, sha1Fingerprint, formatFingerprint } from './connection.js';
import { OPCUA_NULL_TIME } from './values.js';

/**
 * A small OPC UA server with plant-like variables that change over time: `passerelle simulate
 * opcua`, the demo, the tests and the benchmark use it. Its variables live in the namespace
 * PLANT_NAMESPACE under Objects/Plant.
 */

export const PLANT_NAMESPACE = 'urn:passerelle:plant-simulator';

export interface SimulatorOptions {
  /** TCP port; 0 picks a free one. Default 4840. */
  port?: number;
  /** Host name advertised in the endpoint URL. Default 127.0.0.1. */
  hostname?: string;
  /** Folder of the server's certificate store (created if missing). */
  pkiFolder: string;
  /** With users, anonymous access is refused. */
  users?: Record<string, string>;
  /** Only Sign and SignAndEncrypt endpoints (Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss). */
  secure?: boolean;
  /**
   * With `secure`: refuse None channels even for discovery (GetEndpoints), as open62541 built with
   * secure policies only and hardened PLCs do. A client must then know the server certificate.
   */
  noDiscoveryChannel?: boolean;
  /** How often the values change, in ms. Default 1000. */
  interval?: number;
  /** Extra Double variables Plant/Load/Item00001.. each changing once per interval (benchmarks). */
  loadItems?: number;
  /**
   * Namespaces registered before the plant namespace, so its index moves (tests of `nsu=` NodeIds).
   * Each gets a decoy copy of the Line1 variables with other values.
   */
  decoyNamespaces?: string[];
  /** Accept client certificates it does not know (default true: it is a simulator). */
  acceptUnknownClients?: boolean;
}

export interface RunningSimulator {
  endpointUrl: string;
  port: number;
  /** Index of PLANT_NAMESPACE on this run. */
  namespaceIndex: number;
  /** SHA-1 fingerprint of the server certificate, `AB:CD:...`. */
  certificateFingerprint: string;
  /** The server certificate (DER), to trust it in a client's PKI. */
  certificate: Buffer;
  server: Opcua.OPCUAServer;
  /** Changes the values once, now (tests; the timer does it every interval). */
  tick(): void;
  close(): Promise<void>;
}

/**
 * The load slices a timer callback runs, `[from, to)`, counted from the start: every slice whose
 * time has come, so a late callback catches up and each item still changes once per interval.
 * After a stall longer than one interval, only the last `slices` (each item once, not a burst).
 */
export function dueSlices(
  done: number,
  elapsedMs: number,
  sliceMs: number,
  slices: number,
): { from: number; to: number } {
  const to = Math.max(done, Math.floor(elapsedMs / sliceMs));
  return { from: Math.max(done, to - slices), to };
}

/**
 * node-opcua 2.182.2's server builds each PublishResponse's NotificationMessage without its
 * publishTime, so clients read the null DateTime; OPC UA Part 4 (NotificationMessage) wants the
 * time the message was sent, kept on retransmission. Set it as the response leaves (the message
 * object is the one kept for a Republish), as real servers do.
 */
function stampPublishTime(session: Opcua.ServerSession): void {
  const engine = session.publishEngine as unknown as {
    _send_response(subscription: unknown, response: Opcua.PublishResponse): void;
  };
  const send = engine._send_response.bind(engine);
  engine._send_response = (subscription, response) => {
    const message = response.notificationMessage;
    if (message && !((message.publishTime?.getTime() ?? 0) > OPCUA_NULL_TIME))
      message.publishTime = new Date();
    send(subscription, response);
  };
}

/** A value that wanders between bounds like a sensor: a slow sine plus noise. */
function wave(t: number, min: number, max: number, periodS: number, phase = 0): number {
  const mid = (min + max) / 2;
  const amp = (max - min) / 2;
  const v =
    mid +
    amp * 0.85 * Math.sin((2 * Math.PI * t) / (periodS * 1000) + phase) +
    amp * 0.1 * (Math.random() - 0.5);
  return Math.round(v * 100) / 100;
}

export async function startOpcuaSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const lib = await loadOpcua();
  const { MessageSecurityMode: Mode, SecurityPolicy: Policy, DataType, Variant, StatusCodes } = lib;
  mkdirSync(options.pkiFolder, { recursive: true });
  const serverCertificateManager = new lib.OPCUACertificateManager({
    rootFolder: join(options.pkiFolder, 'server'),
    automaticallyAcceptUnknownCertificate: options.acceptUnknownClients ?? true,
    name: 'PKI',
  });
  const userCertificateManager = new lib.OPCUACertificateManager({
    rootFolder: join(options.pkiFolder, 'users'),
    automaticallyAcceptUnknownCertificate: options.acceptUnknownClients ?? true,
    name: 'UserPKI',
  });
  await serverCertificateManager.initialize();
  await userCertificateManager.initialize();
  const users = options.users;
  const strong = [Policy.Basic256Sha256, Policy.Aes128_Sha256_RsaOaep, Policy.Aes256_Sha256_RsaPss];
  const server = new lib.OPCUAServer({
    port: options.port ?? 4840,
    hostname: options.hostname ?? '127.0.0.1',
    resourcePath: '/passerelle/simulator',
    buildInfo: { productName: 'passerelle plant simulator', manufacturerName: 'passerelle' },
    serverCertificateManager,
    userCertificateManager,
    // Never Basic128Rsa15 / Basic256: deprecated, and Node 20 can not decrypt them.
    securityModes: options.secure
      ? [Mode.Sign, Mode.SignAndEncrypt]
      : [Mode.None, Mode.Sign, Mode.SignAndEncrypt],
    securityPolicies: options.secure ? strong : [Policy.None, ...strong],
    disableDiscovery: options.secure === true && options.noDiscoveryChannel === true,
    allowAnonymous: !users,
    userManager: users
      ? {
          isValidUser: (name: string, password: string) =>
            users[name] !== undefined && users[name] === password,
        }
      : undefined,
    serverCapabilities: { maxSessions: 50 },
    maxConnectionsPerEndpoint: 50,
  });
  await server.initialize();
  server.on('create_session', stampPublishTime);
  const addressSpace = server.engine.addressSpace!;
  for (const uri of options.decoyNamespaces ?? []) {
    const decoy = addressSpace.registerNamespace(uri);
    const folder = decoy.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Decoy' });
    decoy.addVariable({
      componentOf: folder,
      nodeId: 's=Line1.Temperature',
      browseName: 'Temperature',
      dataType: 'Double',
      value: { dataType: DataType.Double, value: -999 },
    });
  }
  const ns = addressSpace.registerNamespace(PLANT_NAMESPACE);
  const plant = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Plant', nodeId: 's=Plant' });

  type Var = Opcua.UAVariable;
  const variable = (
    parent: Opcua.BaseNode,
    id: string,
    name: string,
    dataType: keyof typeof DataType,
    value: unknown,
    options: { writable?: boolean; arrayType?: 'Array'; description?: string } = {},
  ): Var =>
    ns.addVariable({
      componentOf: parent,
      nodeId: `s=${id}`,
      browseName: name,
      description: options.description,
      dataType: dataType as string,
      valueRank: options.arrayType ? 1 : -1,
      arrayDimensions: options.arrayType ? [0] : undefined,
      accessLevel: options.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: options.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      value: new Variant({
        dataType: DataType[dataType],
        arrayType: options.arrayType ? lib.VariantArrayType.Array : lib.VariantArrayType.Scalar,
        value,
      }),
    });

  const set = (v: Var, dataType: number, value: unknown, statusCode = StatusCodes.Good): void => {
    v.setValueFromSource(
      new Variant({ dataType, arrayType: lib.VariantArrayType.Scalar, value }),
      statusCode,
      new Date(),
    );
  };

  // Two production lines.
  const lines = [1, 2].map((n) => {
    const line = ns.addObject({ organizedBy: plant, browseName: `Line${n}`, nodeId: `s=Line${n}` });
    const p = `Line${n}.`;
    return {
      n,
      temperature: variable(line, `${p}Temperature`, 'Temperature', 'Double', 70, {
        description: 'Oven temperature, degC',
      }),
      pressure: variable(line, `${p}Pressure`, 'Pressure', 'Double', 2.5, {
        description: 'Line pressure, bar',
      }),
      motorSpeed: variable(line, `${p}MotorSpeed`, 'MotorSpeed', 'Float', 1450, {
        description: 'Conveyor motor, rpm',
      }),
      partsProduced: variable(line, `${p}PartsProduced`, 'PartsProduced', 'UInt32', 0),
      running: variable(line, `${p}Running`, 'Running', 'Boolean', true),
      alarm: variable(line, `${p}Alarm`, 'Alarm', 'Boolean', false, {
        description: 'Over-temperature alarm',
      }),
      energy: variable(line, `${p}EnergyWh`, 'EnergyWh', 'Int64', [0x200000, n], {
        description: 'Energy meter, Wh (Int64, above 2^53 on purpose)',
      }),
      tankLevel: ns.addAnalogDataItem({
        componentOf: line,
        nodeId: `s=${p}TankLevel`,
        browseName: 'TankLevel',
        dataType: 'Double',
        engineeringUnitsRange: { low: 0, high: 100 },
        engineeringUnits: lib.standardUnits.percent,
        value: new Variant({ dataType: DataType.Double, value: 50 }),
      }) as unknown as Var,
      parts: 0,
      energyWh: (0x200000n << 32n) + BigInt(n),
    };
  });

  // Setpoints: writable variables of several types (the opcua-write sink's target).
  const sp = ns.addFolder(plant, { browseName: 'Setpoints', nodeId: 's=Setpoints' });
  variable(sp, 'Setpoints.TargetTemperature', 'TargetTemperature', 'Double', 72.5, { writable: true });
  variable(sp, 'Setpoints.TargetSpeed', 'TargetSpeed', 'Float', 1450, { writable: true });
  variable(sp, 'Setpoints.BatchSize', 'BatchSize', 'Int32', 100, { writable: true });
  variable(sp, 'Setpoints.Enabled', 'Enabled', 'Boolean', true, { writable: true });
  variable(sp, 'Setpoints.Mode', 'Mode', 'String', 'auto', { writable: true });
  variable(sp, 'Setpoints.TotalLimit', 'TotalLimit', 'Int64', [0, 1000], { writable: true });
  variable(
    sp,
    'Setpoints.Recipe',
    'Recipe',
    'LocalizedText',
    new lib.LocalizedText({ text: 'standard', locale: 'en' }),
    {
      writable: true,
    },
  );
  variable(sp, 'Setpoints.Profile', 'Profile', 'Double', [20, 40, 60], {
    writable: true,
    arrayType: 'Array',
  });
  variable(sp, 'Setpoints.StartAt', 'StartAt', 'DateTime', new Date('2026-01-01T06:00:00Z'), {
    writable: true,
  });
  variable(sp, 'Setpoints.SerialNumber', 'SerialNumber', 'String', 'SIM-0001', {
    description: 'Read-only: writes are refused with BadNotWritable',
  });

  // Samples: one variable per interesting type, to see how values map to JSON.
  const samples = ns.addFolder(plant, { browseName: 'Samples', nodeId: 's=Samples' });
  variable(samples, 'Samples.Int64Max', 'Int64Max', 'Int64', [0x7fffffff, 0xffffffff]);
  variable(samples, 'Samples.UInt64Max', 'UInt64Max', 'UInt64', [0xffffffff, 0xffffffff]);
  variable(samples, 'Samples.Float', 'Float', 'Float', 21.3);
  variable(samples, 'Samples.DateTime', 'DateTime', 'DateTime', new Date('2026-11-25T12:00:00.123Z'));
  variable(samples, 'Samples.ByteString', 'ByteString', 'ByteString', Buffer.from([0, 1, 2, 254, 255]));
  variable(
    samples,
    'Samples.LocalizedText',
    'LocalizedText',
    'LocalizedText',
    new lib.LocalizedText({ text: 'Four', locale: 'en-US' }),
  );
  variable(samples, 'Samples.DoubleArray', 'DoubleArray', 'Double', [1.5, 2.5, 3.5], { arrayType: 'Array' });
  variable(
    samples,
    'Samples.Int64Array',
    'Int64Array',
    'Int64',
    [
      [0, 1],
      [0xffffffff, 0xffffffff],
    ],
    { arrayType: 'Array' },
  );
  variable(samples, 'Samples.String', 'String', 'String', 'héllo "plant"');
  variable(samples, 'Samples.Guid', 'Guid', 'Guid', '72962B91-FA75-4AE6-8D28-B404DC7DAF63');
  const uncertain = variable(samples, 'Samples.Uncertain', 'Uncertain', 'Double', 1);
  const bad = variable(samples, 'Samples.BadSensor', 'BadSensor', 'Double', 0);
  set(uncertain, DataType.Double, 1, StatusCodes.UncertainLastUsableValue);
  set(bad, DataType.Double, 0, StatusCodes.BadSensorFailure);

  // Load: many changing variables for benchmarks, spread over the interval.
  const load: Var[] = [];
  if (options.loadItems && options.loadItems > 0) {
    const folder = ns.addFolder(plant, { browseName: 'Load', nodeId: 's=Load' });
    for (let i = 1; i <= options.loadItems; i++) {
      const id = `Load.Item${String(i).padStart(5, '0')}`;
      load.push(variable(folder, id, id.slice(5), 'Double', 0));
    }
  }

  const interval = options.interval ?? 1000;
  const started = Date.now();
  const tick = (): void => {
    const t = Date.now() - started;
    for (const l of lines) {
      const phase = l.n;
      const temperature = wave(t, 62, 82, 120, phase);
      set(l.temperature, DataType.Double, temperature);
      set(l.pressure, DataType.Double, wave(t, 2.1, 2.9, 45, phase));
      set(l.motorSpeed, DataType.Float, Math.round(wave(t, 1380, 1520, 30, phase)));
      l.parts += 1 + Math.floor(Math.random() * 3);
      set(l.partsProduced, DataType.UInt32, l.parts);
      l.energyWh += BigInt(40 + Math.floor(Math.random() * 20));
      set(l.energy, DataType.Int64, [Number(l.energyWh >> 32n), Number(l.energyWh & 0xffffffffn)]);
      set(l.alarm, DataType.Boolean, temperature > 79);
      set(l.tankLevel, DataType.Double, wave(t, 5, 95, 300, phase));
    }
  };
  const timers: NodeJS.Timeout[] = [setInterval(tick, interval)];
  if (load.length > 0) {
    // Ten slices per interval: each item changes once per interval, the server's load stays even.
    // Driven by the clock, not by the count of timer callbacks: a callback that comes late (a busy
    // machine, a long GC) catches up on the slices it missed, so the rate stays items per interval.
    const slices = 10;
    const sliceMs = interval / slices;
    let done = 0;
    let seq = 0;
    const loadTick = (): void => {
      const due = dueSlices(done, Date.now() - started, sliceMs, slices);
      for (done = due.from; done < due.to; done++) {
        const now = new Date();
        seq++;
        for (let i = done % slices; i < load.length; i += slices)
          load[i]!.setValueFromSource(
            new Variant({ dataType: DataType.Double, value: seq }),
            StatusCodes.Good,
            now,
          );
      }
    };
    timers.push(setInterval(loadTick, sliceMs));
  }
  addressSpace.registerShutdownTask(() => timers.forEach((t) => clearInterval(t)));
  await server.start();
  const certificate = server.getCertificate();
  return {
    endpointUrl: server.getEndpointUrl(),
    port: server.endpoints[0]?.port ?? options.port ?? 4840,
    namespaceIndex: ns.index,
    certificate,
    certificateFingerprint: formatFingerprint(sha1Fingerprint(certificate)),
    server,
    tick,
    close: async () => {
      timers.forEach((t) => clearInterval(t));
      await server.shutdown(0);
      await serverCertificateManager.dispose();
      await userCertificateManager.dispose();
    },
  };
}
