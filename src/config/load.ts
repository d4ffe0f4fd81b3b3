// `dredge.yaml` + DREDGE_* environment → the equivalent `dredge run` arguments.
//
// Precedence: command-line flags > environment > file > defaults. The config becomes argv that the
// caller puts BEFORE the command line's own arguments: node:util parseArgs keeps the last value of a
// single-valued flag, so an explicit flag wins. The multi-valued flags (--input, --snapshot, --events)
// would accumulate instead, so they come back apart in `lists`, and a list given on the command line
// REPLACES the config's list (mergeRunLists). Every problem is collected, not just the first.

import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, LineCounter, parseDocument, type Document, type Node, type YAMLMap } from 'yaml';
import { DredgeError } from '../errors.js';
import { BY_ENV, BY_KEY, childrenOf, envName, KEYS, LIST_FLAGS, OTHER_ENV, SECTIONS, TOP_SECTIONS, type ConfigKey, type ListFlag } from './schema.js';
import { closest } from './suggest.js';
import { checkValue, show, type ConfigValue, type Origin } from './values.js';

export type { Origin } from './values.js';

export interface ConfigProblem {
  /** The config key (`sink.db`), the environment variable, or null for the whole file. */
  readonly key: string | null;
  /** `dredge.yaml:12:3`, `DREDGE_SINK_DB (environment)` or the file name. */
  readonly where: string;
  readonly message: string;
}

/** Every problem found in the file and the environment (DREDGE_ERR_CONFIG); the message lists them all. */
export class ConfigError extends DredgeError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `${p.where}: ${p.message}`);
    super('DREDGE_ERR_CONFIG', lines.length === 1 ? (lines[0] as string) : `${lines.length} configuration problems:\n  ${lines.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Where one flag of the argv came from. */
export interface FlagOrigin {
  readonly key: string;
  readonly env: string;
  readonly origin: Origin;
  /** `dredge.yaml:12:3` or `DREDGE_SINK_DB`. */
  readonly where: string;
}

export interface LoadedConfig {
  /** The file read, or null (environment only). */
  readonly path: string | null;
  /** `dredge run` flags, `--flag=value` (so a value starting with - is never taken for a flag). */
  readonly argv: string[];
  /** The multi-valued flags; the command line's own list replaces these (see mergeRunLists). */
  readonly lists: Partial<Record<ListFlag, string[]>>;
  /** flag name (without --, as parseArgs names it) → where its value came from; argv flags and lists. */
  readonly sources: Map<string, Origin>;
  /** flag name → key, environment variable and position. */
  readonly origins: Map<string, FlagOrigin>;
}

interface Resolved {
  value: ConfigValue;
  origin: Origin;
  where: string;
}

const SECTION_NAMES = new Set(SECTIONS.map((s) => s.name));

/** Masks values of variables whose names suggest secrets, and passwords inside URLs. */
export function maskValue(name: string, value: string): string {
  if (/SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL/i.test(name)) return '***';
  return value.replace(/(\/\/[^/:@\s]+:)[^@/\s]+@/g, '$1***@');
}

/** What a YAML syntax error usually means, in words a user can act on. */
const YAML_FIXES: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  DUPLICATE_KEY: 'a key appears twice in the same section: keep one',
  MULTIPLE_DOCS: 'one document per file: remove the --- line (or split the file)',
  BLOCK_AS_IMPLICIT_KEY: 'put a space after each colon and one key per line; quote values that contain ": "',
  MULTILINE_IMPLICIT_KEY: 'one `key: value` per line; check the indentation of the line before',
  MISSING_CHAR: 'close the quote or bracket that is still open',
  BAD_INDENT: 'align keys of the same section with the same number of spaces; close [ ] and { } lists',
  UNEXPECTED_TOKEN: 'check the line for a stray character; quote values that start with @, `, %, | or >',
};

function yamlProblems(doc: Document, file: string): ConfigProblem[] {
  return doc.errors.map((e) => {
    const pos = e.linePos?.[0];
    const where = pos !== undefined ? `${file}:${pos.line}:${pos.col}` : file;
    // prettyErrors appends " at line L, column C:\n\n<the line>\n  ^": keep the words and the excerpt.
    const [head, ...excerpt] = e.message.split('\n');
    const words = (head ?? '').replace(/ at line \d+, column \d+:?$/, '');
    const context = excerpt.filter((l) => l.trim() !== '').map((l) => `    ${l}`).join('\n');
    const fix = YAML_FIXES[e.code] ?? 'fix the YAML syntax at that position';
    return { key: null, where, message: `YAML syntax error: ${words}; fix: ${fix}${context !== '' ? `\n${context}` : ''}` };
  });
}

/** The best hint for an unknown name in `section` ('' = top level). */
function unknownKey(name: string, section: string): string {
  const path = section === '' ? name : `${section}.${name}`;
  const siblings = section === '' ? [...TOP_SECTIONS] : childrenOf(section);
  const near = closest(name, siblings);
  const where = section === '' ? 'at the top level' : `in section ${section}`;
  let hint: string;
  if (near !== null) hint = `did you mean ${section === '' ? near : `${section}.${near}`}?`;
  else {
    // The right name in the wrong section (`window` under engine, `db` at the top)?
    const elsewhere = KEYS.filter((k) => k.key.endsWith('.' + name.replace(/-/g, '_'))).map((k) => k.key);
    const secs = SECTIONS.filter((s) => s.name.endsWith('.' + name) || s.name === name).map((s) => s.name);
    const moved = [...elsewhere, ...secs].filter((k) => k !== path);
    hint = moved.length > 0 ? `it belongs elsewhere: ${moved.join(' or ')}` : `known ${section === '' ? 'sections' : 'keys'}: ${siblings.join(', ')}`;
  }
  return `${path}: unknown ${section === '' ? 'section' : 'key'} ${where}; ${hint} (dredge config example lists every key)`;
}

function sectionHint(section: string): string {
  const kids = childrenOf(section);
  const first = kids[0] as string;
  const sample = BY_KEY.get(`${section}.${first}`)?.sample ?? '…';
  return `${section} is a section: write its keys (${kids.join(', ')}) indented under it, e.g. "${section.split('.').pop() as string}: { ${first}: ${sample} }"`;
}

/** Reads the YAML text into `resolved`, adding every problem found. */
function readFile(text: string, file: string, resolved: Map<string, Resolved>, problems: ConfigProblem[]): void {
  const lc = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lc, uniqueKeys: true });
  if (doc.errors.length > 0) {
    problems.push(...yamlProblems(doc, file));
    return;
  }
  const at = (node: { range?: readonly number[] | null } | null | undefined): string => {
    const off = node?.range?.[0];
    if (off === undefined) return file;
    const p = lc.linePos(off);
    return `${file}:${p.line}:${p.col}`;
  };
  const resolve = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n);
  const walk = (map: YAMLMap, section: string): void => {
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const valueNode = resolve(pair.value) as Node | null | undefined;
      if (!isScalar(keyNode) || (typeof keyNode.value !== 'string' && typeof keyNode.value !== 'number')) {
        problems.push({ key: null, where: at(keyNode), message: `keys must be plain names such as ${section === '' ? 'sink' : (childrenOf(section)[0] as string)}, got ${show(keyNode?.toJSON())}` });
        continue;
      }
      const name = String(keyNode.value);
      const path = section === '' ? name : `${section}.${name}`;
      if (SECTION_NAMES.has(path)) {
        if (valueNode === null || valueNode === undefined || (isScalar(valueNode) && valueNode.value === null)) continue; // `sink:` with nothing under it
        if (!isMap(valueNode)) {
          problems.push({ key: path, where: at(valueNode), message: `${path}: expected a section (keys indented under it), got ${show(valueNode.toJSON())}; ${sectionHint(path)}` });
          continue;
        }
        walk(valueNode, path);
        continue;
      }
      const k = BY_KEY.get(path);
      if (k === undefined) {
        problems.push({ key: path, where: at(keyNode), message: unknownKey(name, section) });
        continue;
      }
      const raw = valueNode === null || valueNode === undefined ? null : (valueNode as Node).toJS(doc);
      const r = checkValue(k, raw, 'file');
      if ('error' in r) problems.push({ key: k.key, where: at(valueNode ?? keyNode), message: r.error });
      else resolved.set(k.key, { value: r.value, origin: 'file', where: at(keyNode) });
    }
  };
  const root = resolve(doc.contents);
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) return; // empty file: all defaults
  if (!isMap(root)) {
    problems.push({ key: null, where: at(root as Node), message: `the file must be a mapping of sections (${TOP_SECTIONS.join(', ')}), got ${show((root as Node).toJSON())}; run dredge config example for a full one` });
    return;
  }
  walk(root, '');
}

function readEnv(env: NodeJS.ProcessEnv, resolved: Map<string, Resolved>, problems: ConfigProblem[]): void {
  const names = Object.keys(env).filter((n) => n.startsWith('DREDGE_')).sort();
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || OTHER_ENV.has(name)) continue;
    const k = BY_ENV.get(name);
    if (k === undefined) {
      const near = closest(name.slice('DREDGE_'.length), [...BY_ENV.keys(), ...OTHER_ENV].map((n) => n.slice('DREDGE_'.length)));
      const hint = near !== null ? `did you mean DREDGE_${near}${BY_ENV.has(`DREDGE_${near}`) ? ` (${(BY_ENV.get(`DREDGE_${near}`) as ConfigKey).key})` : ''}?` : 'config keys are DREDGE_<SECTION>_<KEY>, e.g. DREDGE_SINK_DB for sink.db';
      problems.push({ key: name, where: `${name} (environment)`, message: `unknown DREDGE_ variable; ${hint} Rename or unset it (dredge config example lists every key)` });
      continue;
    }
    const r = checkValue(k, raw, 'env');
    if ('error' in r) problems.push({ key: name, where: `${name}=${maskValue(name, raw)} (environment)`, message: r.error });
    else resolved.set(k.key, { value: r.value, origin: 'env', where: name });
  }
}

/** Turns checked values into argv, lists and origins, in schema order. */
function emit(path: string | null, resolved: Map<string, Resolved>): LoadedConfig {
  const argv: string[] = [];
  const lists: Partial<Record<ListFlag, string[]>> = {};
  const sources = new Map<string, Origin>();
  const origins = new Map<string, FlagOrigin>();
  for (const k of KEYS) {
    const r = resolved.get(k.key);
    if (r === undefined || r.value === null) continue;
    const v = r.value;
    if (Array.isArray(v)) {
      if (v.length === 0) continue;
      if ((LIST_FLAGS as readonly string[]).includes(k.flag)) lists[k.flag as ListFlag] = v;
      else for (const x of v) argv.push(`--${k.flag}=${x}`);
    } else if (typeof v === 'boolean') {
      if (v !== k.when) continue;
      argv.push(`--${k.flag}`);
    } else argv.push(`--${k.flag}=${v}`);
    sources.set(k.flag, r.origin);
    origins.set(k.flag, { key: k.key, env: envName(k.key), origin: r.origin, where: r.where });
  }
  return { path, argv, lists, sources, origins };
}

/**
 * Validates YAML text (named `file` in messages) and the DREDGE_* variables of `env`, and returns the
 * equivalent `dredge run` arguments. Throws ConfigError listing every problem.
 */
export function loadConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const resolved = new Map<string, Resolved>();
  const problems: ConfigProblem[] = [];
  readFile(text, file, resolved, problems);
  readEnv(env, resolved, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return emit(file, resolved);
}

/**
 * Reads the config file at `path` (null: none, the environment alone) and the DREDGE_* variables of
 * `env`; returns the equivalent `dredge run` arguments. Throws ConfigError listing every problem.
 */
export function loadConfig(path: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (path === null) {
    const resolved = new Map<string, Resolved>();
    const problems: ConfigProblem[] = [];
    readEnv(env, resolved, problems);
    if (problems.length > 0) throw new ConfigError(problems);
    return emit(null, resolved);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    throw new ConfigError([{ key: null, where: path, message: `cannot read the config file: ${why}; fix: give an existing file with --config FILE (dredge config example > dredge.yaml writes one)` }]);
  }
  return loadConfigText(text, path, env);
}
