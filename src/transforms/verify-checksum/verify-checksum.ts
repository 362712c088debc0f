import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import {
  CanonicalError,
  Digester,
  USER_PROPERTIES,
  canonicalForm,
  targetOf,
  type Target,
} from '../shared/digest.js';
import { copyObject, describeValue, isContainer } from '../shared/field-paths.js';
import type { VerifyChecksumTransformConfig } from './spec.js';
import { eachMessage } from '../shared/each-message.js';

/** Recomputes the checksum the sending side added; a message without one or with another one is rejected. */
export class VerifyChecksumTransform implements Transform {
  private readonly digester: Digester;
  private readonly target: Target;

  constructor(private readonly config: VerifyChecksumTransformConfig) {
    this.digester = new Digester(config.algorithm, config.key, config.keyEncoding);
    this.target = targetOf(config);
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    return eachMessage(batch, ctx, 'verify-checksum', CanonicalError, (message) => this.one(message));
  }

  private one(message: Message): Message {
    const { payload } = message;
    const { kind, name } = this.target;
    let received: unknown;
    let bytes: Buffer | string;
    if (kind === 'field') {
      if (!isContainer(payload) || Array.isArray(payload))
        throw new CanonicalError(
          `no checksum: the payload is ${describeValue(payload)}, not a JSON object with a "${name}" field`,
        );
      if (!Object.hasOwn(payload, name))
        throw new CanonicalError(`no checksum: the payload has no "${name}" field`);
      received = payload[name];
      bytes = canonicalForm(payload, name);
    } else {
      const properties = message.meta[USER_PROPERTIES] as Record<string, unknown> | undefined;
      received = properties !== null && typeof properties === 'object' ? properties[name] : undefined;
      if (received === undefined)
        throw new CanonicalError(`no checksum: no MQTT user property "${name}" (meta ${USER_PROPERTIES})`);
      if (Array.isArray(received))
        throw new CanonicalError(
          `the MQTT user property "${name}" is repeated ${received.length} times: which one to trust is unclear`,
        );
      bytes = canonicalForm(payload);
    }
    if (typeof received !== 'string')
      throw new CanonicalError(
        `the checksum ${kind === 'field' ? `field "${name}"` : `user property "${name}"`} is ${describeValue(received)}, not a string`,
      );
    const expected = this.digester.digest(bytes);
    if (!this.digester.matches(expected, received)) {
      const shown = received.length > 80 ? `${received.slice(0, 80)}…` : received;
      // A keyed value is not shown: the dead letters would hand out a valid MAC for altered data.
      const computed = this.config.algorithm === 'hmac-sha256' ? '' : ` (computed: ${expected})`;
      throw new CanonicalError(
        `${this.config.algorithm} mismatch: the message carries ${JSON.stringify(shown)}${computed}; the payload was changed on the way, or the sender used other settings`,
      );
    }
    if (!this.config.strip) return message;
    const skip = new Set([name]);
    if (kind === 'field') {
      const rest = copyObject(payload as Record<string, unknown>, skip);
      return { id: message.id, payload: rest, meta: message.meta, time: message.time };
    }
    const others = copyObject(message.meta[USER_PROPERTIES] as Record<string, unknown>, skip);
    const meta = copyObject(
      message.meta,
      Object.keys(others).length > 0 ? undefined : new Set([USER_PROPERTIES]),
    );
    if (Object.keys(others).length > 0) meta[USER_PROPERTIES] = others;
    return { id: message.id, payload, meta, time: message.time };
  }
}
