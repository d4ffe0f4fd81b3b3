// Change events, NDJSON: one object per line,
//   {"time": "2026-11-20T12:00:00Z" | 1763640000, "type": "assign" | "release", "cidr": "10.1.2.3", "app": …, …}
// with the snapshot's metadata keys (unknown keys kept as extra metadata). A release names the owner
// it ends through `app` when it can (that lets the index notice lost events); without `app` it ends
// whoever owns the address. Order, duplicates and lateness do not matter to the loader.

import type { ChangeEvent } from '../builder.js';
import { requirePrefix } from '../prefix.js';
import { LineErrors, fail, lines, metaFrom, normalizeColumn, parseJsonLine, timeField } from './fields.js';

const RESERVED = new Set(['time', 'type', 'cidr']);

export function parseEvents(text: string, file: string): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  const errors = new LineErrors();
  for (const [n, line] of lines(text)) errors.run(() => {
    const rec = parseJsonLine(line, file, n);
    let time: unknown;
    let type: unknown;
    let cidr: unknown;
    for (const [k, v] of Object.entries(rec)) {
      const key = normalizeColumn(k);
      if (key === 'time') time = v;
      else if (key === 'type') type = v;
      else if (key === 'cidr') cidr = v;
    }
    if (time === undefined) fail(file, n, 'time', 'is missing; give the event time as ISO-8601 or epoch seconds');
    const t = timeField(time, file, n, 'time');
    if (t === null) fail(file, n, 'time', 'is empty');
    if (type !== 'assign' && type !== 'release') fail(file, n, 'type', `is ${JSON.stringify(type)}; it must be "assign" or "release"`);
    if (typeof cidr !== 'string' || cidr.trim() === '') fail(file, n, 'cidr', 'is missing; give the address or CIDR the event is about');
    requirePrefix(cidr, `${file}:${n}: field cidr`);
    out.push({ time: t, type, cidr: cidr.trim(), meta: metaFrom(rec, RESERVED, file, n), origin: { file, line: n } });
  });
  errors.throwIfAny(file);
  return out;
}
