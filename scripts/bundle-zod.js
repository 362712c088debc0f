// Run by `npm run build` after tsc: builds dist/vendor/zod.js, zod with only the functions dist/
// uses, and points every `import ... from 'zod'` in dist/ at it (docs/architecture.md, "Specs,
// implementations and idle memory"). Any entry point of zod links all its ES modules, among them
// 64 locales, the JSON Schema reader and the compiler, and V8 keeps the source of every ES module
// it linked: ~1.5 MB of heap in every process. The bundle is tree-shaken (zod declares itself free
// of side effects) and keeps the English locale, which zod's classic API installs.
// Sources and tests use zod itself; dist/ uses the bundle (test/zod-bundle.test.ts checks both).
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const vendor = join(dist, 'vendor');
const BUNDLE = join(vendor, 'zod.js');

// `import { z } from 'zod'` (tsc drops type-only imports), or the bundle's path from a build
// before: the bundle exports `z` with the members dist/ reads, `z.<name>` outside a longer chain.
const IMPORT = /^import \{ z \} from (['"])(zod|(\.\.?\/)+vendor\/zod\.js)\1;$/m;
const MEMBER = /(?<![\w$.])z\s*\.\s*([A-Za-z_$][\w$]*)/g;

function* jsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== vendor) yield* jsFiles(path);
    } else if (entry.name.endsWith('.js')) yield path;
  }
}

const importers = [];
const members = new Set();
for (const file of jsFiles(dist)) {
  const text = readFileSync(file, 'utf8');
  if (!/from ['"](zod(\/[^'"]*)?|(\.\.?\/)+vendor\/zod\.js)['"]/.test(text)) continue;
  if (!IMPORT.test(text))
    throw new Error(`${relative(root, file)}: imports zod otherwise than \`import { z } from 'zod'\``);
  importers.push([file, text]);
  for (const [, name] of text.matchAll(MEMBER)) members.add(name);
}
if (importers.length === 0) throw new Error('no module of dist/ imports zod: run tsc first');

rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
// The entry lives in the project (zod resolves from its node_modules) and goes once bundled.
const names = join(vendor, 'zod-names.js');
const entry = join(vendor, 'zod-entry.js');
writeFileSync(names, `export { ${[...members].sort().join(', ')} } from 'zod';\n`);
writeFileSync(entry, "export * as z from './zod-names.js';\n");
try {
  const bundle = await rolldown({ input: entry, cwd: root, treeshake: true, logLevel: 'warn' });
  // No comments: zod's hold the only non-ASCII characters, which would make V8 keep the whole
  // source as a two-byte string.
  await bundle.write({ file: BUNDLE, format: 'esm', comments: false });
  await bundle.close();
} finally {
  rmSync(names, { force: true });
  rmSync(entry, { force: true });
}
const bundled = readFileSync(BUNDLE, 'utf8');
if (/[\u0080-\uffff]/.test(bundled)) throw new Error(`${BUNDLE}: non-ASCII characters`);

for (const [file, text] of importers) {
  let path = relative(dirname(file), BUNDLE).split(sep).join('/');
  if (!path.startsWith('.')) path = `./${path}`;
  writeFileSync(file, text.replace(IMPORT, `import { z } from '${path}';`));
}
console.log(
  `dist/vendor/zod.js: ${members.size} members of z, ${Math.round(bundled.length / 1024)} KB; ${importers.length} modules point at it`,
);
