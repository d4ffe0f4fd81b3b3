// Runs every compiled test (dist/test/**/*.test.js) with node:test. Node 20's --test takes no globs,
// and a plain directory argument would also run helpers and fixtures, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../dist/test/', import.meta.url).pathname;
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const filter = process.argv.slice(2);
const chosen = filter.length === 0 ? files : files.filter((f) => filter.some((s) => f.includes(s)));
if (chosen.length === 0) {
  console.error(`no test files matched under ${root}; run \`npm run build\` first`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...chosen], { stdio: 'inherit' });
process.exit(r.status ?? 1);
