import jsonata from 'jsonata';
import { z } from 'zod';
import type { Message } from '../sdk/index.js';

/**
 * JSONata as the map and filter transforms use it. An expression is evaluated against the message
 * envelope `{ payload, meta, id, time }` (as Node-RED roots its expressions at `msg`: write
 * `payload.temperature`), with `$meta`, `$id` and `$time` bound as well. Expressions are parsed
 * once; their text is never turned into JavaScript.
 */
export interface Envelope {
  payload: unknown;
  meta: Record<string, unknown>;
  id: string;
  time: number;
}

/** What an expression's `$` is: a new plain object, so nothing the expression does reaches the message. */
export function envelopeOf(message: Message): Envelope {
  return { payload: message.payload, meta: message.meta, id: message.id, time: message.time };
}

/** The same text, for reasons and docs. */
export const ENVELOPE = '{ payload, meta, id, time }';

/** Compiles an expression for JSONata's own evaluator, on the envelope with $meta, $id and $time bound. */
export function compileJsonata(source: string, timeoutMs: number): (message: Message) => Promise<unknown> {
  const expression = jsonata(source, { timeout: timeoutMs });
  return (message) =>
    expression.evaluate(envelopeOf(message), { meta: message.meta, id: message.id, time: message.time });
}

/** Validates the syntax while the pipeline file is checked, so errors come with file:line. */
export function jsonataExpression(description: string) {
  return z
    .string()
    .min(1)
    .superRefine((source, ctx) => {
      try {
        jsonata(source);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `invalid JSONata: ${describeError(error)}` });
      }
    })
    .describe(description);
}

/** JSONata throws plain objects `{ code, position, message }`; this turns any of them into one readable line. */
export function describeError(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const e = error as { message?: unknown; code?: unknown; position?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(error);
    const where = typeof e.position === 'number' && e.position > 0 ? ` at character ${e.position}` : '';
    return typeof e.code === 'string' ? `${message} (JSONata ${e.code}${where})` : message;
  }
  return String(error);
}

/** Shortens an expression for a rejection reason. */
export function excerpt(source: string, max = 60): string {
  const flat = source.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
