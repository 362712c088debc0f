import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import { ENVELOPE, describeError, excerpt } from '../jsonata.js';
import { compileExpression, type CompiledExpression } from './expression.js';
import type { MapTransformConfig } from './spec.js';

type Outcome = { ok: true; value: unknown } | { ok: false; reason: string };

// Nothing or `{}` is most often a path that does not start where the expression is evaluated.
const ROOT_HINT = `the expression is evaluated on ${ENVELOPE}: read a payload field as \`payload.<field>\``;

/** Computes a new payload (and optionally metadata) per message; a message that fails is dead-lettered alone. */
export class MapTransform implements Transform {
  private readonly expression: CompiledExpression;
  private readonly meta: [key: string, expression: CompiledExpression][];

  constructor(config: MapTransformConfig) {
    this.expression = compileExpression(config.expression, { timeoutMs: config.timeout });
    this.meta = Object.entries(config.meta ?? {}).map(([key, source]) => [
      key,
      compileExpression(source, { timeoutMs: config.timeout }),
    ]);
  }

  async apply(batch: Message[], ctx: TransformContext): Promise<Message[]> {
    const out: Message[] = [];
    // One message at a time: JSONata is CPU-bound, so concurrent evaluations only add overhead and
    // would share the per-evaluation timeout window.
    for (const message of batch) {
      let payload = run(this.expression, message, 'the payload');
      if (payload instanceof Promise) payload = await payload;
      if (!payload.ok) {
        ctx.reject(message, payload.reason);
        continue;
      }
      let meta = message.meta;
      let reason: string | undefined;
      if (this.meta.length > 0) {
        meta = { ...message.meta };
        for (const [key, expression] of this.meta) {
          let value = run(expression, message, `meta "${key}"`);
          if (value instanceof Promise) value = await value;
          if (!value.ok) {
            reason = value.reason;
            break;
          }
          if (value.value === null) delete meta[key];
          else meta[key] = value.value;
        }
      }
      if (reason !== undefined) ctx.reject(message, reason);
      else out.push({ id: message.id, payload: payload.value, meta, time: message.time });
    }
    return out;
  }
}

/** Synchronous when the fast path answered, so simple maps cost no promise per message. */
function run(expression: CompiledExpression, message: Message, what: string): Outcome | Promise<Outcome> {
  let value: unknown;
  try {
    value = expression.evaluate(message);
  } catch (error) {
    return failed(expression, what, error);
  }
  if (value instanceof Promise) {
    return value.then(
      (v: unknown) => check(expression, what, v),
      (error: unknown) => failed(expression, what, error),
    );
  }
  return check(expression, what, value);
}

function failed(expression: CompiledExpression, what: string, error: unknown): Outcome {
  return {
    ok: false,
    reason: `map: ${what} expression \`${excerpt(expression.source)}\` failed: ${describeError(error)}`,
  };
}

function check(expression: CompiledExpression, what: string, value: unknown): Outcome {
  if (value === undefined) {
    return {
      ok: false,
      reason: `map: ${what} expression \`${excerpt(expression.source)}\` gave no value for this message (a field it reads is missing? ${ROOT_HINT})`,
    };
  }
  if (isEmptyObject(value)) {
    return {
      ok: false,
      reason: `map: ${what} expression \`${excerpt(expression.source)}\` gave an empty object for this message (none of the fields it reads is there? ${ROOT_HINT})`,
    };
  }
  if (typeof value === 'function') {
    return {
      ok: false,
      reason: `map: ${what} expression \`${excerpt(expression.source)}\` gave a function, not a value`,
    };
  }
  return { ok: true, value };
}

/** `{}` from an object constructor means none of its fields was found: the message has another shape. */
function isEmptyObject(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value))
    return false;
  for (const _key in value) return false;
  return true;
}
