import { z } from 'zod';
import { compileGetter, templateProblem, duration, builtSchema, lazySchema } from '../../src/sdk/index.js';
import type { SinkSpec } from '../../src/sdk/index.js';
import { checkConnection, connectionShape, connectionWarnings, nodeIdProblem } from '../opcua/spec.js';

/**
 * The config of the `opcua-write` sink: the one place it is defined. The connection settings
 * (endpoint, security, identity, reconnection) are the `opcua` source's own.
 * Nothing here imports node-opcua: validation stays fast for every CLI command.
 */

export const opcuaWriteSinkConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      nodeId: z
        .string()
        .min(1)
        .superRefine((t, ctx) => {
          const problem = templateProblem(t);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
          else if (!/\{\{/.test(t)) {
            const bad = nodeIdProblem(t);
            if (bad) ctx.addIssue({ code: 'custom', message: bad });
          }
        })
        .describe(
          'The node to write, a NodeId or a template: `ns=2;s=Setpoints.{{ topic[2] }}`, `{{ payload.nodeId }}`, `nsu=urn:plant;s={{ meta.opcua.name }}`.',
        ),
      value: z
        .string()
        .default('payload')
        .superRefine((e, ctx) => {
          try {
            compileGetter(e);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message });
          }
        })
        .describe(
          'Where the value is in the message: `payload` (the default), `payload.value`, `payload.setpoint`. It is converted to the data type of the node.',
        ),
      readBack: z
        .boolean()
        .default(false)
        .describe(
          'After writing, read the values back and dead-letter the messages whose value differs (a server that clamps or ignores writes).',
        ),
      maxNodesPerWrite: z
        .number()
        .int()
        .positive()
        .max(10_000)
        .default(500)
        .describe('Values per Write request; a larger batch is split.'),
      writeTimeout: duration(
        'How long one Write (or read-back) may take before the batch is retried.',
      ).prefault('10s'),
    })
    .superRefine((config, ctx) => checkConnection(config, ctx))
    .describe('Writes values to OPC UA variables.'),
);

export type OpcuaWriteSinkConfig = z.output<typeof opcuaWriteSinkConfig>;

export const opcuaWriteSinkSpec: SinkSpec<typeof opcuaWriteSinkConfig> = {
  kind: 'sink',
  type: 'opcua-write',
  title: 'OPC UA writer',
  summary:
    "Writes message values to OPC UA variables, converted to each node's data type; a refused write is dead-lettered with its status code.",
  get config() {
    return builtSchema(opcuaWriteSinkConfig);
  },
  examples: [
    { url: 'opc.tcp://plc:4840', nodeId: 'nsu=urn:plant;s=Setpoints.{{ topic[2] }}', value: 'payload.value' },
    {
      url: 'opc.tcp://plc:4840',
      securityMode: 'SignAndEncrypt',
      username: 'writer',
      password: '${env:OPCUA_PASSWORD}',
      nodeId: '{{ payload.nodeId }}',
      readBack: true,
    },
  ],
  delivery: () => 'at-least-once',
  // Writing the same value twice leaves the same state.
  idempotent: () => true,
  warnings: connectionWarnings,
  load: async () => (await import('./index.js')).opcuaWriteSink,
};
