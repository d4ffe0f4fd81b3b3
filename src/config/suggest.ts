// "Did you mean …?" for config keys and environment variables: the closest known name by edit distance.

/** Levenshtein distance (insertions, deletions, substitutions; a swap of neighbours counts as one). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev2: number[] = new Array<number>(n + 1).fill(0);
  let prev: number[] = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur: number[] = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (prev2[j - 2] as number) + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n] as number;
}

/**
 * The candidate closest to `name` (case-insensitive, `-` and `_` alike), or null when none is close
 * enough to be a plausible typo: at most a third of the name's length, at least 1, at most 4 edits.
 * A candidate that contains the name or is contained in it (`keep_port` → `keep_ports`) also counts.
 */
export function closest(name: string, candidates: Iterable<string>): string | null {
  const norm = (s: string): string => s.toLowerCase().replace(/-/g, '_');
  const n = norm(name);
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const cn = norm(c);
    let d = editDistance(n, cn);
    if (d > 0 && n.length >= 3 && (cn.includes(n) || n.includes(cn))) d = Math.min(d, 1);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.min(4, Math.max(1, Math.floor(n.length / 3)));
  return bestD <= limit ? best : null;
}
