// `dredge <command> …`: dispatches to one module per command (src/cli/<command>.ts), each exporting
// `run(argv) → exit code`. Usage errors and DredgeErrors become one line on stderr, never a stack.

import { DredgeError } from '../errors.js';
import { CliUsageError } from './args.js';

interface Command {
  summary: string;
  load: () => Promise<{ run: (argv: string[]) => Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'what npm start runs: the samples decoded, then the product live (in-process Kinesis → daemon → DuckDB)', load: () => import('./demo.js') },
  generate: { summary: 'write seeded, realistic flow logs with the matching inventory, change events and exact totals', load: () => import('./generate.js') },
  index: { summary: 'build a time-aware IP index from inventory, events and AWS ranges; inspect how an address resolves', load: () => import('./index-cmd.js') },
  run: { summary: 'the main job: flow logs (files, folders, stdin, Kinesis) → enriched, windowed rollups (DuckDB, NDJSON, Druid)', load: () => import('./run.js') },
  parse: { summary: 'decode flow-log files (any version, gzip, S3 headers, CloudWatch envelopes) to JSON lines', load: () => import('./parse.js') },
  'druid-spec': { summary: 'print (or --post to an Overlord) the Druid Kinesis supervisor spec for the druid sink\'s stream', load: () => import('./druid-spec.js') },
  capacity: { summary: 'measure this machine and plan cores, instances, Kinesis shards and memory for a target flows/s', load: () => import('./capacity.js') },
  config: { summary: 'check a dredge.yaml (and DREDGE_* overrides) for `dredge run`, or print a commented example', load: () => import('./config.js') },
  query: { summary: 'slice the rollup store: top talkers, cross-region/AZ, rejects, internet exposure, unattributed, read-only SQL', load: () => import('./query.js') },
};

export function usage(): string {
  const lines = ['usage: dredge <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `dredge <command> --help` for a command\'s options.');
  return lines.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`dredge ${pkg.version}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    process.stderr.write(`dredge: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (e) {
    if (e instanceof CliUsageError) {
      process.stderr.write(`dredge ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof DredgeError) {
      if (!e.logged) process.stderr.write(`dredge ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
