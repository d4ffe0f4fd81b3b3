// `dredge parse [FILE|-] [--fields "<names>"]`: the decoder's public face. stdout carries one JSON
// object per valid record and nothing else; malformed lines go to stderr as `line N: reason` (or
// `event N: reason` inside CloudWatch envelopes). Exit 0 when the input was read, 1 when it could not
// be read or was damaged (records before the damage are still printed), 2 on bad usage.

import { FlowDecoder } from '../parse/decoder.js';
import { FlowFormat } from '../parse/fields.js';
import { renderRecordJson } from '../parse/render.js';
import { decodeStream, openInput } from '../sources/files/decode-stream.js';
import { CliUsageError, parseCli } from './args.js';
import { BufferedWriter } from './output.js';

const HELP = `usage: dredge parse [FILE|-] [--fields "<names>"] [--max-line-bytes N] [--stats]

Decodes AWS VPC / Transit Gateway flow logs of any version and custom field order, plain or gzip,
with or without an S3 header line, or CloudWatch Logs subscription envelopes, and prints one JSON
object per record. Without FILE (or with -) it reads stdin.

  --fields "<names>"   the record format when there is no header line (Kinesis/CloudWatch path),
                       names separated by spaces or commas; header lines are then skipped
  --max-line-bytes N   lines longer than this are malformed (default 65536)
  --stats              print a summary on stderr (always shown when stderr is a terminal)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    fields: { type: 'string' },
    'max-line-bytes': { type: 'string' },
    stats: { type: 'boolean' },
  }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length > 1) throw new CliUsageError(`expected at most one FILE, got ${positionals.length}\n\n${HELP}`);
  const path = positionals[0] ?? '-';
  const fields = values.fields === undefined ? undefined : FlowFormat.parse(values.fields);
  let maxLineBytes: number | undefined;
  if (values['max-line-bytes'] !== undefined) {
    maxLineBytes = Number(values['max-line-bytes']);
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 16) throw new CliUsageError('--max-line-bytes takes an integer ≥ 16');
  }

  const out = new BufferedWriter(process.stdout);
  const err = new BufferedWriter(process.stderr);
  const decoder = new FlowDecoder({
    fields,
    maxLineBytes,
    onBatch: (batch) => {
      for (let r = 0; r < batch.length; r++) out.write(renderRecordJson(batch, r) + '\n');
    },
    onIssue: (issue) => err.write(`${issue.unit} ${issue.n}: ${issue.reason}\n`),
  });
  const label = path === '-' ? 'stdin' : path;
  const started = process.hrtime.bigint();
  let failure: Error | null = null;
  try {
    await decodeStream(openInput(path), decoder, label, () => out.ready());
  } catch (e) {
    failure = e as Error;
  }
  await out.flush();
  const s = decoder.stats;
  if (values.stats === true || process.stderr.isTTY) {
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    err.write(
      `${label}: ${s.records} records, ${s.malformed} malformed, ${s.headerLines} header lines` +
        (s.encoding === 'cloudwatch' ? `, ${s.envelopes} envelopes (${s.controlMessages} control), ${s.events} events` : '') +
        ` [${s.encoding}] in ${secs.toFixed(2)} s\n`,
    );
  }
  await err.flush();
  if (failure !== null) throw failure;
  return 0;
}
