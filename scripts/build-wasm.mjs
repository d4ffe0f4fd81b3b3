// Builds native-free-wasm/assembly/scan.ts → native-free-wasm/build/scan.wasm with the AssemblyScript
// compiler installed by `npm ci` (devDependency, pinned). Deterministic: same compiler, same flags, same
// source give the same bytes (no source map, no paths embedded), so the committed .wasm can be checked.
//
//   node scripts/build-wasm.mjs           build (and print the sha256)
//   node scripts/build-wasm.mjs --check   build to memory and fail if it differs from the committed file
//   node scripts/build-wasm.mjs --wat     also write the text form (scan.wat, git-ignored)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native-free-wasm/assembly/scan.ts');
const out = join(root, 'native-free-wasm/build/scan.wasm');
const check = process.argv.includes('--check');
const wat = process.argv.includes('--wat');

let asc;
try {
  asc = (await import('assemblyscript/asc')).default;
} catch (e) {
  console.error(`build-wasm: the AssemblyScript compiler is not installed (${e.message}); run \`npm ci\` first`);
  process.exit(1);
}

// Plain (non-shared) memory exported to JS, which grows it; no runtime, no GC, no aborts in the hot loop.
const flags = [
  relative(process.cwd(), src),
  '--outFile', 'scan.wasm',
  ...(wat ? ['--textFile', 'scan.wat'] : []),
  '--optimizeLevel', '3',
  '--shrinkLevel', '0',
  '--converge',
  '--noAssert',
  '--runtime', 'stub',
  '--enable', 'simd',
  '--initialMemory', '2',
];

const files = new Map();
let stderr = '';
const { error } = await asc.main(flags, {
  writeFile(name, contents) {
    files.set(name, contents);
  },
  stdout: { write() {} },
  stderr: {
    write(s) {
      stderr += s;
    },
  },
});
if (error) {
  console.error(stderr);
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
const wasm = files.get('scan.wasm');
if (!(wasm instanceof Uint8Array)) {
  console.error('build-wasm: the compiler produced no scan.wasm');
  process.exit(1);
}
const sha = createHash('sha256').update(wasm).digest('hex');
if (check) {
  const committed = existsSync(out) ? readFileSync(out) : null;
  if (committed === null || !committed.equals(Buffer.from(wasm))) {
    console.error(`build-wasm: ${relative(root, out)} differs from a fresh build (sha256 ${sha}); run \`npm run build:wasm\``);
    process.exit(1);
  }
  console.log(`build-wasm: ${relative(root, out)} is up to date (${wasm.length} bytes, sha256 ${sha})`);
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, wasm);
if (wat && files.has('scan.wat')) writeFileSync(join(dirname(out), 'scan.wat'), files.get('scan.wat'));
console.log(`build-wasm: ${relative(root, out)} (${wasm.length} bytes, sha256 ${sha})`);
