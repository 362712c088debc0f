import pino from 'pino';
import { redact, type Logger } from '../sdk/index.js';

/** Structured JSON logs (pino). Every string that goes out passes through the secret redactor. */
export function createLogger(options: { level?: string; destination?: number } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.PASSERELLE_LOG_LEVEL ?? 'info',
      base: { service: 'passerelle' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          const cleaned = args.map((a: unknown) => (typeof a === 'string' ? redact(a) : a));
          method.apply(this, cleaned as Parameters<typeof method>);
        },
      },
    },
    pino.destination({ dest: options.destination ?? 1, sync: false }),
  ) as unknown as Logger;
}
