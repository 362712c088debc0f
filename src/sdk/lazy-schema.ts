const BUILD = Symbol('lazySchema.build');
let builds = 0;

/**
 * A zod schema (or an object of schemas, such as a shape to spread) built the first time it is
 * used, then kept. Specs define their config this way so that a process builds the schemas of the
 * components its pipelines use, not those of every registered component: each spec costs hundreds
 * of zod objects (docs/architecture.md, "Specs, implementations and idle memory").
 *
 * The value stands for the schema (`x.parse()`, `x.shape`, `...x`, `typeof x` work unchanged), but
 * zod keys metadata (descriptions) by the schema object: where it is handed to zod as a part of
 * another schema, or as a spec's `config`, pass `builtSchema(x)`, the schema itself.
 */
export function lazySchema<T extends object>(build: () => T): T {
  let built: T | undefined;
  const target = (): T => {
    if (built === undefined) {
      built = build();
      builds += 1;
    }
    return built;
  };
  return new Proxy({} as T, {
    get(_, key) {
      if (key === BUILD) return target;
      const schema = target();
      const value: unknown = Reflect.get(schema, key, schema);
      return typeof value === 'function' ? value.bind(schema) : value;
    },
    has: (_, key) => key === BUILD || Reflect.has(target(), key),
    ownKeys: () => Reflect.ownKeys(target()),
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(target(), key);
      // A proxy may report a property only as configurable, its target ({}) having none.
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  });
}

/** The schema a `lazySchema()` stands for, built now if it was not; any other value as it is. */
export function builtSchema<T>(value: T): T {
  const build = (value as { [BUILD]?: () => T })[BUILD];
  return typeof build === 'function' ? build() : value;
}

/** How many lazy schemas were built in this process (tests: a relay builds only its own). */
export function lazySchemaBuilds(): number {
  return builds;
}
