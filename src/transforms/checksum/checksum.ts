import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import { copyObject, describeValue, isContainer } from '../shared/field-paths.js';
import {
  CanonicalError,
  Digester,
  USER_PROPERTIES,
  canonicalForm,
  targetOf,
  type Target,
} from '../shared/digest.js';
import type { ChecksumTransformConfig } from './spec.js';
import { eachMessage } from '../shared/each-message.js';

/** Adds an integrity value over the canonical form of the payload, into a payload field or a user property. */
export class ChecksumTransform implements Transform {
  private readonly digester: Digester;
  private readonly target: Target;

  constructor(config: ChecksumTransformConfig) {
    this.digester = new Digester(config.algorithm, config.key, config.keyEncoding);
    this.target = targetOf(config);
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    return eachMessage(batch, ctx, 'checksum', CanonicalError, (message) => this.one(message));
  }

  private one(message: Message): Message {
    const { payload } = message;
    if (this.target.kind === 'field') {
      if (!isContainer(payload) || Array.isArray(payload))
        throw new CanonicalError(
          `the payload is ${describeValue(payload)}: a checksum field needs a JSON object payload (use userProperty for other payloads)`,
        );
      const value = this.digester.digest(canonicalForm(payload, this.target.name));
      const out = copyObject(payload);
      out[this.target.name] = value;
      return { id: message.id, payload: out, meta: message.meta, time: message.time };
    }
    const value = this.digester.digest(canonicalForm(payload));
    const properties = message.meta[USER_PROPERTIES];
    const existing = properties !== null && typeof properties === 'object' ? properties : {};
    const meta = copyObject(message.meta);
    meta[USER_PROPERTIES] = { ...existing, [this.target.name]: value };
    return { id: message.id, payload, meta, time: message.time };
  }
}
