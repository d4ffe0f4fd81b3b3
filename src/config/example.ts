// `dredge config example`: a commented dredge.yaml with every key, made from the schema table so it
// can never miss a key (a test loads it back with loadConfig).

import { KEYS, SECTIONS, splitKey } from './schema.js';

const HEADER = `# dredge.yaml: the configuration of \`dredge run\` (\`dredge config example\` prints this file).
# Every key is one \`dredge run\` flag, named in its comment. ~ means "not set": the default in the comment
# applies (keys that only make sense with one source or sink are ~ here). Environment variables override
# the file: DREDGE_<SECTION>_<KEY> in upper case, sections joined by _ (sink.druid.url is
# DREDGE_SINK_DRUID_URL); lists comma-separated; booleans true/false/1/0; an empty value unsets the key.
# Precedence: command-line flags > environment > this file > defaults; a list given on the command line
# (--input, --snapshot, --events) replaces the file's. \`dredge config check\` validates this file.
`;

const COMMENT_COLUMN = 40;

function line(indent: number, text: string, comment: string): string {
  const body = ' '.repeat(indent) + text;
  // A long value gets its comment on the line above, so lines stay readable.
  if (body.length >= COMMENT_COLUMN + 8) return `${' '.repeat(indent)}# ${comment}\n${body}`;
  return `${body.padEnd(COMMENT_COLUMN)}# ${comment}`;
}

/** The example file's text (YAML, every key with its default or ~, one comment each). */
export function exampleConfig(): string {
  const out: string[] = [HEADER.trimEnd()];
  const opened = new Set<string>();
  for (const k of KEYS) {
    const { section, leaf } = splitKey(k.key);
    // Open each section (and its parents) the first time one of its keys comes.
    const parts = section.split('.');
    for (let i = 0; i < parts.length; i++) {
      const name = parts.slice(0, i + 1).join('.');
      if (opened.has(name)) continue;
      opened.add(name);
      const doc = SECTIONS.find((s) => s.name === name)?.doc ?? '';
      if (i === 0) out.push('');
      out.push(line(2 * i, `${parts[i] as string}:`, doc));
    }
    out.push(line(2 * parts.length, `${leaf}: ${k.example}`, k.doc));
  }
  return out.join('\n') + '\n';
}
