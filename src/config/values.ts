// Reads and checks one config value (from the YAML file or a DREDGE_* variable) by its key's kind.
// Errors name the key, the bad value, what is expected and a valid example in the form the user wrote it
// (a YAML line for the file, NAME=value for the environment). Cross-key checks stay in `dredge run`.

import { parsePortList, planKey } from '../aggregate/dimensions.js';
import { parseDuration } from '../index/load/time.js';
import { FlowFormat } from '../parse/fields.js';
import { envName, splitKey, type ConfigKey } from './schema.js';
import { closest } from './suggest.js';

/** A checked value: text for single-valued flags, a list for the list flags, a boolean, or null (unset). */
export type ConfigValue = string | string[] | boolean | null;

export type Origin = 'file' | 'env';

/** Shows a raw value in a message: strings quoted, other types as YAML would show them, long ones cut. */
export function show(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v);
  else if (v === null || v === undefined) s = '~ (null)';
  else if (typeof v === 'object') s = JSON.stringify(v) ?? String(v);
  else s = String(v);
  return s.length > 80 ? s.slice(0, 77) + '…' : s;
}

function typeName(v: unknown): string {
  if (typeof v === 'string') return 'text';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  if (Array.isArray(v)) return 'a list';
  if (v === null || v === undefined) return 'null';
  return 'a mapping';
}

/** `[a, b]` → `a,b` (a list in an environment variable is comma-separated). */
function envForm(sample: string): string {
  const m = /^\[(.*)\]$/.exec(sample);
  return m === null ? sample : (m[1] as string).split(',').map((s) => s.trim()).join(',');
}

/** "e.g. window: 60s" or "e.g. DREDGE_AGGREGATE_WINDOW=60s". */
export function example(k: ConfigKey, origin: Origin, sample = k.sample): string {
  return origin === 'env' ? `e.g. ${envName(k.key)}=${envForm(sample)}` : `e.g. ${splitKey(k.key).leaf}: ${sample}`;
}

type Result = { value: ConfigValue } | { error: string };

const LISTEN = /^(.*):(\d{1,5})$/;

function text(raw: unknown): string | null {
  if (typeof raw === 'string') return raw.trim().length > 0 ? raw.trim() : null;
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  return null;
}

function list(raw: unknown, origin: Origin): unknown[] {
  if (Array.isArray(raw)) return raw;
  if (origin === 'env' && typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return [raw];
}

/**
 * Checks `raw` for key `k`. From the environment `raw` is always a string (lists comma-separated,
 * booleans true/false/1/0); from the file it is what YAML made of it. null/undefined means "not set".
 */
export function checkValue(k: ConfigKey, raw: unknown, origin: Origin): Result {
  if (raw === null || raw === undefined || (origin === 'env' && raw === '')) return { value: null };
  const got = `got ${show(raw)}`;
  const bad = (expected: string, sample?: string): Result => ({ error: `${k.key}: expected ${expected}, ${got}; ${example(k, origin, sample)}` });
  switch (k.kind) {
    case 'text':
    case 'path': {
      const s = text(raw);
      return s === null ? bad(k.kind === 'path' ? `a path (text)` : 'text') : { value: s };
    }
    case 'url': {
      const s = text(raw);
      if (s === null) return bad('a URL such as http://localhost:8888');
      let u: URL | null;
      try {
        u = new URL(s);
      } catch {
        u = null;
      }
      if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) return bad('an http:// or https:// URL');
      return { value: s };
    }
    case 'paths': {
      const items = list(raw, origin);
      const out: string[] = [];
      for (const it of items) {
        const s = text(it);
        if (s === null) return bad(origin === 'env' ? 'paths separated by commas' : 'a list of paths (or one path)');
        out.push(s);
      }
      return { value: out };
    }
    case 'names': {
      const items = list(raw, 'file');
      const names: string[] = [];
      for (const it of items) {
        if (typeof it !== 'string' || it.trim() === '') return bad('a list of names (or one string of names separated by commas and/or spaces)');
        names.push(...it.split(/[\s,]+/).filter((s) => s.length > 0));
      }
      if (names.length === 0) return bad('at least one name');
      const spec = names.join(',');
      try {
        if (k.flag === 'fields') FlowFormat.parse(spec, k.key);
        else planKey(spec);
      } catch (e) {
        const msg = (e as Error).message.replace(/^--[a-z-]+:?\s*/, '').replace(new RegExp(`^${k.key.replace(/\./g, '\\.')}:?\\s*`), '');
        return { error: `${k.key}: ${msg} (${got}); ${example(k, origin)}` };
      }
      return { value: spec };
    }
    case 'duration': {
      if (typeof raw !== 'string' && typeof raw !== 'number') return bad('a duration such as 60s, 10m, 1h or 1d (bare numbers are seconds)');
      const s = String(raw).trim();
      const d = parseDuration(s);
      if (d === null || !Number.isFinite(d)) return bad('a duration: a number with s, m, h or d such as 60s, 10m, 1h (bare numbers are seconds)');
      const min = k.minSeconds ?? 0;
      if (d < min) return bad(min > 0 ? `a duration of at least ${min} s` : 'a duration of 0 or more');
      return { value: s };
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      const range = `a whole number from ${k.min ?? 0} to ${k.max ?? Number.MAX_SAFE_INTEGER}`;
      if (!Number.isInteger(n)) return bad(range);
      if ((k.min !== undefined && n < k.min) || (k.max !== undefined && n > k.max)) return bad(range);
      return { value: String(n) };
    }
    case 'bool': {
      if (typeof raw === 'boolean') return { value: raw };
      if (origin === 'env' && typeof raw === 'string') {
        if (/^(true|1)$/i.test(raw.trim())) return { value: true };
        if (/^(false|0)$/i.test(raw.trim())) return { value: false };
        return bad('true, false, 1 or 0');
      }
      const yaml11 = typeof raw === 'string' && /^(yes|no|on|off|y|n)$/i.test(raw.trim()) ? ' (yes/no/on/off are text in YAML 1.2)' : '';
      return bad(`true or false (unquoted), not ${typeName(raw)}${yaml11}`);
    }
    case 'enum': {
      const values = k.values ?? [];
      const s = typeof raw === 'string' ? raw.trim() : null;
      if (s !== null && values.includes(s)) return { value: s };
      const near = s !== null ? closest(s, values) : null;
      return { error: `${k.key}: expected one of ${values.join(', ')}, ${got}${near !== null ? ` (did you mean ${near}?)` : ''}; ${example(k, origin, near ?? k.sample)}` };
    }
    case 'listen': {
      if (raw === false) return { value: 'off' };
      const s = typeof raw === 'string' ? raw.trim() : null;
      if (s === 'off') return { value: s };
      const m = s !== null ? LISTEN.exec(s) : null;
      if (m === null || Number(m[2]) > 65535) return bad('HOST:PORT (port 0 to 65535; 0 picks a free one) or off');
      return { value: s };
    }
    case 'from': {
      const s = typeof raw === 'string' ? raw.trim() : null;
      if (s === 'trim-horizon' || s === 'latest') return { value: s };
      if (s === null || !/^\d{4}-\d\d-\d\d/.test(s) || Number.isNaN(Date.parse(s))) return bad('trim-horizon, latest or an ISO time such as 2025-11-23T12:00:00Z', '2025-11-23T12:00:00Z');
      return { value: s };
    }
    case 'ports': {
      const items = typeof raw === 'string' ? [raw] : list(raw, origin);
      const ports: number[] = [];
      const notPort = (it: unknown): Result => bad(`port numbers from 0 to 65535 (${show(it)} is not one)`);
      for (const it of items) {
        if (typeof it === 'number') {
          if (!Number.isInteger(it) || it < 0 || it > 65535) return notPort(it);
          ports.push(it);
        } else if (typeof it === 'string') {
          for (const w of it.split(/[\s,]+/).filter((x) => x.length > 0)) {
            try {
              ports.push(...parsePortList(w));
            } catch {
              return notPort(w);
            }
          }
        } else return bad('a list of port numbers');
      }
      return { value: ports.length === 0 ? null : ports.join(',') };
    }
  }
}
