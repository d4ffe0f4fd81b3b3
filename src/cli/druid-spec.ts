// `dredge druid-spec`: prints the Druid Kinesis supervisor spec that loads the druid sink's stream into
// a rolled-up datasource (src/sinks/druid-spec.ts says what it holds and why), or with --post submits
// it to the Overlord (POST /druid/indexer/v1/supervisor, which creates or updates the supervisor) and
// prints Druid's answer. stdout carries only the JSON; errors are one line on stderr (exit 1, usage 2).

import { DEFAULT_DIMENSIONS } from '../aggregate/dimensions.js';
import { DredgeError } from '../errors.js';
import { parseDuration } from '../index/load/time.js';
import { DEFAULT_DATASOURCE, druidErrorMessage, druidSpec } from '../sinks/druid-spec.js';
import { CliUsageError, parseCli } from './args.js';

const HELP = `usage: dredge druid-spec --stream STREAM [--datasource D] [--dimensions "…"] [--window 60s]
                         [--region R | --endpoint URL] [--row-id-dimension] [--post OVERLORD_URL]

Prints the Druid Kinesis supervisor spec for the stream \`dredge run --sink druid\` writes: timestamp
window_start, the dimensions (and src.reason, dst.reason), metrics count and longSum flows/packets/bytes,
rollup on at the window's granularity, and a row_ids HyperLogLog of the rows' row_id (replay check).
Give it the same --dimensions and --window as the run.

  --stream STREAM       the Kinesis stream (required)
  --datasource D        Druid datasource to create (default ${DEFAULT_DATASOURCE})
  --dimensions "…"      group-by dimensions, comma/space separated (default ${DEFAULT_DIMENSIONS})
  --window 60s          window length (queryGranularity; default 60s)
  --region R            the stream's AWS region: Druid reads kinesis.R.amazonaws.com
                        (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)
  --endpoint URL        the Kinesis endpoint Druid should use instead (LocalStack, a VPC endpoint)
  --row-id-dimension    keep row_id as a dimension: exact duplicate detection, rollup only of duplicates
  --post URL            submit to the Overlord (or Router) at URL, e.g. http://localhost:8081, and print
                        its answer instead of the spec`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(
    argv,
    {
      stream: { type: 'string' },
      datasource: { type: 'string' },
      dimensions: { type: 'string' },
      window: { type: 'string' },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      post: { type: 'string' },
      'row-id-dimension': { type: 'boolean' },
    },
    HELP,
  );
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"\n\n${HELP}`);
  if (values.stream === undefined || values.stream === '') throw new CliUsageError(`--stream STREAM is required (the stream \`dredge run --sink druid --druid-stream\` writes)\n\n${HELP}`);
  let windowSeconds = 60;
  if (values.window !== undefined) {
    const w = parseDuration(values.window);
    if (w === null || w <= 0) throw new CliUsageError(`--window takes a duration such as 60s, 5m or 1h, got "${values.window}"`);
    windowSeconds = w;
  }
  const env = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const region = values.region ?? (env !== undefined && env !== '' ? env : undefined);
  if (values.endpoint !== undefined) {
    let u: URL | null;
    try {
      u = new URL(values.endpoint);
    } catch {
      u = null;
    }
    // Druid takes a bare host (kinesis.us-west-2.amazonaws.com) or a URL.
    if ((u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) && !/^[A-Za-z0-9.-]+(:\d+)?$/.test(values.endpoint)) {
      throw new CliUsageError(`--endpoint takes a URL (http://localhost:4566) or a host name (kinesis.us-west-2.amazonaws.com), got "${values.endpoint}"`);
    }
  }
  const spec = druidSpec({
    stream: values.stream,
    ...(values.datasource !== undefined ? { datasource: values.datasource } : {}),
    dimensions: values.dimensions ?? DEFAULT_DIMENSIONS,
    windowSeconds,
    ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    rowIdDimension: values['row-id-dimension'] === true,
  });
  if (values.post === undefined) {
    process.stdout.write(JSON.stringify(spec, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(await postSupervisor(values.post, spec));
  return 0;
}

/** POSTs the spec to <url>/druid/indexer/v1/supervisor; returns Druid's answer (pretty JSON when it is JSON) with a newline. */
export async function postSupervisor(url: string, spec: Record<string, unknown>): Promise<string> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new CliUsageError(`--post takes the Overlord's URL, e.g. http://localhost:8081, got "${url}"`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new CliUsageError(`--post takes an http:// or https:// URL, got "${url}"`);
  const target = base.href.replace(/\/+$/, '') + '/druid/indexer/v1/supervisor';
  let res: Response;
  let text: string;
  try {
    res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(spec), signal: AbortSignal.timeout(60_000) });
    text = await res.text();
  } catch (e) {
    const err = e as { name?: string; message?: string; cause?: { code?: string } };
    const why = err.name === 'TimeoutError' ? 'no answer in 60 s' : (err.cause?.code ?? err.message ?? String(e));
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot reach the Overlord at ${target} (${why}); check --post (the Overlord listens on 8081, the Router on 8888)`, { retriable: true, cause: e });
  }
  if (!res.ok) {
    const hint = res.status === 404 ? ' (is the druid-kinesis-indexing-service extension loaded on the Overlord, and is the URL the Overlord or Router?)' : '';
    throw new DredgeError('DREDGE_ERR_CONFIG', `the Overlord refused the supervisor spec with HTTP ${res.status}: ${druidErrorMessage(text)}${hint}`);
  }
  try {
    return JSON.stringify(JSON.parse(text), null, 2) + '\n';
  } catch {
    return text.endsWith('\n') ? text : text + '\n';
  }
}
