import pino, { type DestinationStream } from 'pino';
import { redact, redactValue, type Logger } from '../sdk/index.js';

/**
 * Structured JSON logs (pino). Secrets are masked before serialisation: in the message, in every
 * field (nested values and errors included) and in child bindings, so the masking sees strings as
 * they are, not their JSON-escaped form.
 */
export function createLogger(
  options: { level?: string; destination?: number; stream?: DestinationStream } = {},
): Logger {
  const redactMessage = (m: unknown): unknown => (typeof m === 'string' ? redact(m) : m);
  const root = pino(
    {
      level: options.level ?? process.env.PASSERELLE_LOG_LEVEL ?? 'info',
      base: { service: 'passerelle' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => redactValue(bindings) as Record<string, unknown>,
        log: (object) => redactValue(object) as Record<string, unknown>,
      },
      serializers: {
        // A message pino takes from an error (`logger.error(err)`) skips the log method hook.
        msg: redactMessage,
        // `log` above already made errors plain `{ type, message, stack }` objects.
        err: (err: unknown) => err,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map(redactMessage) as Parameters<typeof method>);
        },
      },
    },
    options.stream ?? pino.destination({ dest: options.destination ?? 1, sync: false }),
  );
  return withRedactedBindings(root);
}

/** pino serialises a child's bindings once, without the `bindings` formatter: mask them first. */
function withRedactedBindings(logger: pino.Logger): Logger {
  return {
    debug: logger.debug.bind(logger),
    info: logger.info.bind(logger),
    warn: logger.warn.bind(logger),
    error: logger.error.bind(logger),
    child: (bindings) => withRedactedBindings(logger.child(redactValue(bindings) as pino.Bindings)),
  } as Logger;
}
