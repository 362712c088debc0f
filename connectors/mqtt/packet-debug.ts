import { createRequire } from 'node:module';

/** The namespaces of mqtt-packet's loggers (`mqtt-packet:parser`, `mqtt-packet:writeToStream`). */
const PREFIX = 'mqtt-packet:';

type CreateDebug = ((namespace: string) => unknown) & { enabled(namespace: string): boolean };

/**
 * mqtt-packet, mqtt.js's parser and writer, calls its `debug` loggers about fifteen times per
 * relayed message, and a `debug` logger collects its rest arguments before it looks whether it is
 * on: ~7,000 instructions per message, 8 % of a relay's CPU (bench/instructions.js). Unlike mqtt.js
 * (its `log` option), mqtt-packet takes no logger. So before mqtt.js loads, this makes `debug`
 * hand mqtt-packet a no-op for a namespace that is off (as DEBUG said when the process started:
 * `DEBUG=mqtt-packet:*` still logs; `debug.enable()` later does not reach them). Every other
 * namespace and use of `debug` is left as it is. Returns false, and changes nothing, when
 * mqtt-packet is already loaded (or not found).
 */
export function quietMqttPacketDebug(): boolean {
  let fromPacket: NodeJS.Require;
  let debugFile: string;
  try {
    const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'));
    const packetFile = fromMqtt.resolve('mqtt-packet');
    if (fromMqtt.cache[packetFile]) return false;
    fromPacket = createRequire(packetFile);
    debugFile = fromPacket.resolve('debug');
  } catch {
    return false;
  }
  const createDebug = fromPacket('debug') as CreateDebug;
  const module = fromPacket.cache[debugFile];
  if (!module || module.exports !== createDebug) return false;
  module.exports = new Proxy(createDebug, {
    apply(target, thisArg, args: unknown[]) {
      const namespace = args[0];
      if (typeof namespace === 'string' && namespace.startsWith(PREFIX) && !target.enabled(namespace))
        return Object.assign(() => {}, { namespace, enabled: false });
      return Reflect.apply(target, thisArg, args) as unknown;
    },
  });
  return true;
}
