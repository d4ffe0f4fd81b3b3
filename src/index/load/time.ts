// Times and durations in metadata files and flags: ISO-8601 with a zone (`2026-11-20T12:03:17Z`,
// `…+01:00`, fractions allowed) or epoch seconds (number or digits), and durations like `2h`, `90m`,
// `45s`, `1d` or bare seconds. Returns epoch seconds; null when the text is not a time.

const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

export function parseTime(v: unknown): number | { error: string } {
  if (typeof v === 'number') return checkEpoch(v);
  if (typeof v !== 'string') return { error: `expected ISO-8601 text or epoch seconds, got ${v === null ? 'null' : typeof v}` };
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return checkEpoch(Number(s));
  if (!ISO.test(s)) {
    if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s)) return { error: `"${s}" has no time zone; add Z (UTC) or an offset such as +00:00` };
    return { error: `"${s}" is neither ISO-8601 (2026-11-20T12:03:17Z) nor epoch seconds` };
  }
  const ms = Date.parse(s.replace(' ', 'T'));
  if (Number.isNaN(ms)) return { error: `"${s}" is not a valid date` };
  return ms / 1000;
}

function checkEpoch(n: number): number | { error: string } {
  if (!Number.isFinite(n) || n < 0) return { error: `${n} is not a valid epoch time` };
  if (n > 1e11) return { error: `${n} looks like milliseconds; give epoch seconds` };
  return n;
}

/** `2h`, `90m`, `45s`, `1d`, `3600` → seconds; null when malformed. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/i.exec(s.trim());
  if (m === null) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  return n * (unit === 's' ? 1 : unit === 'm' ? 60 : unit === 'h' ? 3600 : 86400);
}

/** Epoch seconds → ISO-8601 (`-∞`/`+∞` for open bounds). */
export function formatTime(t: number): string {
  if (t === -Infinity) return '-inf';
  if (t === Infinity) return '+inf';
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}
