// `npm run bench [-- <name>|all] [--json] [--quick]`: runs benchmark scenarios (one file each,
// mirroring src/) and exits non-zero when a scenario's CI guard fails. Guards are ratios measured in
// the same run (e.g. decoder vs a raw byte scan of the same bytes), never absolute times, because CI
// machines are noisy. Absolute figures go to BENCHMARKS.md with the command that produced them.

export interface BenchOptions {
  /** Smaller inputs, fewer iterations: for CI. */
  quick: boolean;
  json: boolean;
}

export interface GuardResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ScenarioResult {
  scenario: string;
  /** Printed as a table; also emitted with --json. */
  rows: Record<string, string | number>[];
  guards: GuardResult[];
  notes?: string[];
}

type Scenario = () => Promise<{ run: (opts: BenchOptions) => Promise<ScenarioResult> }>;

const SCENARIOS: Record<string, Scenario> = {
  parse: () => import('./parse/decode.js'),
  aggregate: () => import('./aggregate/group-table.js'),
  'parse-wasm': () => import('./parse/wasm.js'),
  index: () => import('./index/lookup.js'),
  e2e: () => import('./e2e/pipeline.js'),
  duckdb: () => import('./sinks/duckdb.js'),
  kinesis: () => import('./sources/kinesis.js'),
};

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const quick = argv.includes('--quick') || process.env.DREDGE_BENCH_QUICK === '1';
  const names = argv.filter((a) => !a.startsWith('--'));
  const chosen = names.length === 0 || names.includes('all') ? Object.keys(SCENARIOS) : names;
  const results: ScenarioResult[] = [];
  let failed = 0;
  for (const name of chosen) {
    const load = SCENARIOS[name];
    if (load === undefined) {
      process.stderr.write(`bench: unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}\n`);
      return 2;
    }
    const r = await (await load()).run({ quick, json });
    results.push(r);
    if (!json) {
      process.stdout.write(`\n## ${r.scenario}\n`);
      console.table(r.rows);
      for (const n of r.notes ?? []) process.stdout.write(`  ${n}\n`);
      for (const g of r.guards) process.stdout.write(`  guard ${g.ok ? 'PASS' : 'FAIL'}: ${g.name}: ${g.detail}\n`);
    }
    failed += r.guards.filter((g) => !g.ok).length;
  }
  if (json) process.stdout.write(JSON.stringify({ node: process.version, results }, null, 2) + '\n');
  if (failed > 0) process.stderr.write(`bench: ${failed} guard(s) failed\n`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
