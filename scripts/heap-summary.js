// Summarizes a heap snapshot (scripts/idle-rss.js --snapshot DIR): self size by constructor, and the
// largest strings, module sources included (a source string starts with the module's own text).
// Usage: node scripts/heap-summary.js FILE.heapsnapshot [--top 30]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const topIndex = process.argv.indexOf('--top');
const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 30;
const snapshot = JSON.parse(readFileSync(file, 'utf8'));
const { node_fields: fields, node_types: types } = snapshot.snapshot.meta;
const typeNames = types[0];
const width = fields.length;
const at = (field) => fields.indexOf(field);
const [TYPE, NAME, SIZE] = [at('type'), at('name'), at('self_size')];
const { nodes, strings } = snapshot;

const byConstructor = new Map();
const bigStrings = [];
let total = 0;
for (let i = 0; i < nodes.length; i += width) {
  const type = typeNames[nodes[i + TYPE]];
  const name = strings[nodes[i + NAME]];
  const size = nodes[i + SIZE];
  total += size;
  const isString = type === 'string' || type === 'concatenated string' || type === 'sliced string';
  const key = isString
    ? '(string)'
    : type === 'object' || type === 'closure'
      ? `${type} ${name}`
      : `(${type})`;
  const entry = byConstructor.get(key) ?? { count: 0, bytes: 0 };
  entry.count += 1;
  entry.bytes += size;
  byConstructor.set(key, entry);
  if (isString && size > 20_000)
    bigStrings.push({ kb: Math.round(size / 1024), text: name.slice(0, 90).replace(/\s+/g, ' ') });
}
const mb = (bytes) => (bytes / 1e6).toFixed(2);
console.log(`${file}: ${mb(total)} MB in ${nodes.length / width} nodes`);
console.table(
  [...byConstructor]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top)
    .map(([what, e]) => ({ what, count: e.count, MB: mb(e.bytes) })),
);
console.log('Strings over 20 KB (module sources are strings too):');
console.table(bigStrings.sort((a, b) => b.kb - a.kb).slice(0, top));
