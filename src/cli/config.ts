// `dredge config check [--config FILE]`: validates dredge.yaml and the DREDGE_* environment without
// starting anything, and prints the `dredge run` command line they amount to (exit 0), or every problem
// (exit 1). `dredge config example`: prints a commented dredge.yaml with every key and its default.

import { ConfigError, DEFAULT_CONFIG, exampleConfig, loadConfig, maskValue, resolveConfigPath, type LoadedConfig } from '../config/index.js';
import { CliUsageError, parseCli } from './args.js';

const HELP = `usage: dredge config check [--config FILE]
       dredge config example > ${DEFAULT_CONFIG}

check     validate the config file and the DREDGE_* environment variables without starting a run;
          print the equivalent \`dredge run\` command line (exit 0) or every problem found (exit 1).
          --config FILE   the file to check (default: $DREDGE_CONFIG, else ./${DEFAULT_CONFIG} if present)
example   print a commented ${DEFAULT_CONFIG} with every key and its default

\`dredge run --config FILE\` reads the same file. Environment variables override the file
(DREDGE_<SECTION>_<KEY>, e.g. DREDGE_SINK_DB for sink.db); flags given to \`dredge run\` override both.`;

/** Quotes an argument for a POSIX shell when it needs it. */
function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function commandLine(cfg: LoadedConfig): string[] {
  const args = [...cfg.argv];
  for (const f of ['input', 'snapshot', 'events'] as const) for (const v of cfg.lists[f] ?? []) args.push(`--${f}=${v}`);
  return args.map((a) => maskValue('', a));
}

function check(argv: string[]): number {
  const { values } = parseCli(argv, { config: { type: 'string' } }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const path = resolveConfigPath(values.config ?? null);
  let cfg: LoadedConfig;
  try {
    cfg = loadConfig(path, process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const n = e.problems.length;
    process.stderr.write(`dredge config check: ${path ?? 'the environment'}: ${n} problem${n === 1 ? '' : 's'}\n`);
    for (const p of e.problems) process.stderr.write(`  ${p.where}: ${p.message}\n`);
    return 1;
  }
  const fromFile = [...cfg.sources.values()].filter((o) => o === 'file').length;
  const fromEnv = cfg.sources.size - fromFile;
  const out: string[] = [];
  if (path === null) out.push(`no config file (no --config, DREDGE_CONFIG unset, no ./${DEFAULT_CONFIG}); ${fromEnv} setting${fromEnv === 1 ? '' : 's'} from DREDGE_* variables`);
  else out.push(`${path}: valid; ${fromFile} setting${fromFile === 1 ? '' : 's'} from the file, ${fromEnv} from the environment`);
  out.push('', `dredge run ${commandLine(cfg).map(shellQuote).join(' ')}`.trimEnd(), '');
  if (cfg.origins.size > 0) {
    const rows = [...cfg.origins].map(([flag, o]) => [`--${flag}`, o.key, o.origin === 'env' ? `${o.where} (environment)` : o.where]);
    const w0 = Math.max(...rows.map((r) => (r[0] as string).length));
    const w1 = Math.max(...rows.map((r) => (r[1] as string).length));
    for (const r of rows) out.push(`  ${(r[0] as string).padEnd(w0)}  ${(r[1] as string).padEnd(w1)}  ${r[2] as string}`);
    out.push('');
  }
  out.push('Flags given to `dredge run` override these (a --input/--snapshot/--events list replaces the file\'s);');
  out.push('checks between keys (one source, the sink\'s required keys) run when `dredge run` starts.');
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP + '\n');
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'check') return check(rest);
  if (sub === 'example') {
    parseCli(rest, {}, HELP);
    process.stdout.write(exampleConfig());
    return 0;
  }
  throw new CliUsageError(`unknown subcommand "${sub}": use check or example\n\n${HELP}`);
}
