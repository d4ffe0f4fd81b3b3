// Glue for `dredge run`: find --config in its argv, pick the config file, load it, and merge the
// config's lists (--input/--snapshot/--events) with the command line's.

import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CliUsageError } from '../cli/args.js';
import { loadConfig, type LoadedConfig } from './load.js';
import type { ListFlag } from './schema.js';

export const DEFAULT_CONFIG = 'dredge.yaml';

/**
 * Takes `--config FILE` / `--config=FILE` out of `argv` (the last one wins). Everything after `--` is
 * left alone. Throws a CliUsageError (exit 2) when --config has no value.
 */
export function splitConfigFlag(argv: readonly string[]): { path: string | null; rest: string[] } {
  let path: string | null = null;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--config') {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new CliUsageError('--config needs a file: --config dredge.yaml');
      path = v;
      i++;
    } else if (a.startsWith('--config=')) {
      path = a.slice('--config='.length);
      if (path === '') throw new CliUsageError('--config needs a file: --config=dredge.yaml');
    } else rest.push(a);
  }
  return { path, rest };
}

/**
 * The config file to read: `--config FILE` if given, else $DREDGE_CONFIG, else ./dredge.yaml when it
 * exists, else null (no file: environment and flags only).
 */
export function resolveConfigPath(flagPath: string | null, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | null {
  if (flagPath !== null) return flagPath;
  const fromEnv = env.DREDGE_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dflt = join(cwd, DEFAULT_CONFIG);
  return existsSync(dflt) ? DEFAULT_CONFIG : null;
}

/**
 * For `dredge run`: strips --config from `argv`, loads the config (throws ConfigError), and returns the
 * argv to parse: the config's flags first, then the command line's (so explicit flags win).
 */
export function loadRunConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): { config: LoadedConfig; rest: string[]; argv: string[] } {
  const { path, rest } = splitConfigFlag(argv);
  const resolved = resolveConfigPath(path, env, cwd);
  const file = resolved === null ? null : isAbsolute(resolved) || cwd === process.cwd() ? resolved : join(cwd, resolved);
  const config = loadConfig(file, env);
  return { config, rest, argv: [...config.argv, ...rest] };
}

/** The option names `cliArgv` itself gives (not the config's), read without knowing the options. */
function flagsGiven(cliArgv: readonly string[]): Set<string> {
  const { tokens } = parseArgs({ args: [...cliArgv], strict: false, allowPositionals: true, tokens: true });
  return new Set(tokens.filter((t) => t.kind === 'option').map((t) => (t as { name: string }).name));
}

/**
 * The lists `dredge run` should use. A list given on the command line REPLACES the config's list of the
 * same flag (no concatenation); positionals count as --input. Also, a source or index named on the command
 * line replaces the config's of the other kind: `--kinesis S` and `--generate` drop the config's inputs, `--index F` drops
 * the config's snapshots and events (so `dredge run --index x.idx` works with a config that has snapshots).
 * `values` are the parsed values of the combined argv (the config's argv never holds these three flags,
 * so they are the command line's).
 */
export function mergeRunLists(
  config: Pick<LoadedConfig, 'lists'>,
  cliArgv: readonly string[],
  values: { input?: string[] | undefined; snapshot?: string[] | undefined; events?: string[] | undefined },
  positionals: readonly string[],
): Record<ListFlag, string[]> {
  const given = flagsGiven(cliArgv);
  const cliInput = [...(values.input ?? []), ...positionals];
  const pick = (cli: string[], fromConfig: string[] | undefined, droppedBy: readonly string[]): string[] => (cli.length > 0 ? cli : droppedBy.some((f) => given.has(f)) ? [] : [...(fromConfig ?? [])]);
  return {
    input: pick(cliInput, config.lists.input, ['kinesis', 'generate']),
    snapshot: pick(values.snapshot ?? [], config.lists.snapshot, ['index']),
    events: pick(values.events ?? [], config.lists.events, ['index']),
  };
}

/**
 * " (set by sink.db in dredge.yaml:12:3)" or " (set by DREDGE_SINK_DB)" for a flag the config gave, else
 * "": for `dredge run` to append to a usage error about that flag, so the user knows which key to fix.
 */
export function flagOrigin(config: Pick<LoadedConfig, 'origins'>, flag: string): string {
  const o = config.origins.get(flag.replace(/^--/, ''));
  if (o === undefined) return '';
  return o.origin === 'env' ? ` (set by ${o.env}, i.e. ${o.key})` : ` (set by ${o.key} at ${o.where})`;
}

/** Appends flagOrigin to every --flag a usage message mentions that came from the config. */
export function annotateFlags(config: Pick<LoadedConfig, 'origins'>, message: string): string {
  const [first, ...more] = message.split('\n');
  const seen = new Set<string>();
  let notes = '';
  for (const m of (first ?? '').matchAll(/--([a-z][a-z-]*)/g)) {
    const f = m[1] as string;
    if (seen.has(f)) continue;
    seen.add(f);
    const o = flagOrigin(config, f);
    if (o !== '') notes += `; --${f}${o}`;
  }
  return [`${first ?? ''}${notes}`, ...more].join('\n');
}
