// `dredge druid-spec` and druidSpec(): the default spec equals the golden file byte for byte
// (test/fixtures/druid/supervisor-default.json) and keeps to the shape Druid documents for a Kinesis
// supervisor (ingestion/kinesis-ingestion, ingestion/ingestion-spec, querying/granularities); the
// dimensions are typed, windows map to granularities, the endpoint follows the region; --post sends
// the spec to <overlord>/druid/indexer/v1/supervisor and prints Druid's answer; bad flags are refused.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { DEFAULT_DIMENSIONS } from '../../src/aggregate/dimensions.js';
import { DredgeError } from '../../src/errors.js';
import { druidGranularities, druidSpec } from '../../src/sinks/druid-spec.js';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const GOLDEN = new URL('../../../test/fixtures/druid/supervisor-default.json', import.meta.url);

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `dredge druid-spec …` without the AWS region variables (unless given), asynchronously. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Out> {
  const base = { ...process.env };
  delete base.AWS_REGION;
  delete base.AWS_DEFAULT_REGION;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, 'druid-spec', ...args], { env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

type Json = Record<string, unknown>;
const obj = (v: unknown, what: string): Json => {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${what} is an object`);
  return v as Json;
};

/** Granularity names in Druid's docs, finest first (querying/granularities). */
const SIMPLE_ORDER = ['none', 'second', 'minute', 'five_minute', 'ten_minute', 'fifteen_minute', 'thirty_minute', 'hour', 'six_hour', 'eight_hour', 'day', 'week', 'month', 'quarter', 'year', 'all'];
const SIMPLE_MS: Record<string, number> = { second: 1e3, minute: 6e4, fifteen_minute: 9e5, thirty_minute: 18e5, hour: 36e5, day: 864e5, month: 28 * 864e5 };

/** The parts of Druid's documented Kinesis supervisor schema that this spec uses, checked field by field. */
function checkDocumentedShape(spec: Json): void {
  assert.equal(spec.type, 'kinesis');
  const s = obj(spec.spec, 'spec');
  assert.deepEqual(Object.keys(s).sort(), ['dataSchema', 'ioConfig', 'tuningConfig']);
  const ds = obj(s.dataSchema, 'dataSchema');
  assert.equal(typeof ds.dataSource, 'string');
  const ts = obj(ds.timestampSpec, 'timestampSpec');
  assert.ok(['iso', 'posix', 'millis', 'micro', 'nano', 'auto'].includes(ts.format as string));
  const dims = obj(ds.dimensionsSpec, 'dimensionsSpec').dimensions as unknown[];
  assert.ok(Array.isArray(dims) && dims.length > 0);
  const names = dims.map((d) => (typeof d === 'string' ? d : (obj(d, 'dimension').name as string)));
  for (const d of dims) if (typeof d !== 'string') assert.ok(['string', 'long', 'float', 'double'].includes(obj(d, 'dimension').type as string));
  assert.equal(new Set(names).size, names.length, 'no dimension twice');
  assert.ok(!names.includes(ts.column as string), 'the timestamp is not a dimension');
  const metrics = ds.metricsSpec as Json[];
  for (const m of metrics) {
    assert.ok(['count', 'longSum', 'doubleSum', 'hyperUnique'].includes(m.type as string), `metric type ${String(m.type)}`);
    if (m.type !== 'count') assert.equal(typeof m.fieldName, 'string');
    assert.ok(!names.includes(m.name as string), `metric ${String(m.name)} is not also a dimension`);
  }
  const g = obj(ds.granularitySpec, 'granularitySpec');
  assert.equal(g.rollup, true);
  assert.ok(SIMPLE_ORDER.includes(g.segmentGranularity as string));
  const q = g.queryGranularity;
  const qMs = typeof q === 'string' ? SIMPLE_MS[q] : (obj(q, 'queryGranularity').duration as number);
  assert.ok(typeof qMs === 'number' && qMs <= (SIMPLE_MS[g.segmentGranularity as string] as number), 'queryGranularity is at most segmentGranularity');
  const io = obj(s.ioConfig, 'ioConfig');
  assert.equal(io.type, 'kinesis');
  assert.equal(typeof io.stream, 'string');
  assert.equal(typeof io.endpoint, 'string');
  assert.equal(obj(io.inputFormat, 'inputFormat').type, 'json');
  assert.equal(typeof io.useEarliestSequenceNumber, 'boolean');
  assert.ok(Number.isInteger(io.taskCount) && Number.isInteger(io.replicas));
  assert.match(io.taskDuration as string, /^PT\d+[HM]$/);
  assert.equal(obj(s.tuningConfig, 'tuningConfig').type, 'kinesis');
}

describe('dredge druid-spec', () => {
  it('the default spec equals the golden file byte for byte and druidSpec() with the defaults', async () => {
    const golden = readFileSync(GOLDEN, 'utf8');
    const r = await cli(['--stream', 'dredge-rollups']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, golden);
    assert.deepEqual(JSON.parse(golden), druidSpec({ stream: 'dredge-rollups', dimensions: DEFAULT_DIMENSIONS, windowSeconds: 60 }));
  });

  it('the golden spec has the shape Druid documents, with every dimension, the reasons, rollup at the window, and no row_id dimension', () => {
    const spec = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Json;
    checkDocumentedShape(spec);
    const ds = obj(obj(spec.spec, 'spec').dataSchema, 'dataSchema');
    assert.deepEqual(obj(ds.timestampSpec, 't'), { column: 'window_start', format: 'iso' });
    const dims = obj(ds.dimensionsSpec, 'd').dimensions as unknown[];
    assert.deepEqual(dims, ['src.app', 'dst.app', 'src.region', 'dst.region', 'src.az', 'dst.az', { type: 'long', name: 'protocol' }, { type: 'long', name: 'dstport' }, 'action', 'src.reason', 'dst.reason']);
    assert.deepEqual((ds.metricsSpec as Json[]).map((m) => `${String(m.type)}:${String(m.name)}:${String(m.fieldName ?? '')}`), ['count:count:', 'longSum:flows:flows', 'longSum:packets:packets', 'longSum:bytes:bytes', 'hyperUnique:row_ids:row_id']);
    assert.deepEqual(obj(ds.granularitySpec, 'g'), { type: 'uniform', segmentGranularity: 'hour', queryGranularity: 'minute', rollup: true });
  });

  it('types dimensions: ports, protocol and integer fields long; metadata, action-like and text fields string', () => {
    const spec = druidSpec({ stream: 's', dimensions: 'src.account dst.owner, flow_direction srcport dst_port protocol tcp_flags', windowSeconds: 60 });
    checkDocumentedShape(spec);
    const dims = obj(obj(obj(spec.spec, 's').dataSchema, 'd').dimensionsSpec, 'x').dimensions;
    assert.deepEqual(dims, ['src.account', 'dst.owner', 'flow_direction', { type: 'long', name: 'srcport' }, { type: 'long', name: 'dst_port' }, { type: 'long', name: 'protocol' }, { type: 'long', name: 'tcp_flags' }, 'src.reason', 'dst.reason']);
  });

  it('maps windows to granularities: simple names where Druid has one, else an epoch-aligned duration', () => {
    assert.deepEqual(druidGranularities(60), { query: 'minute', segment: 'hour' });
    assert.deepEqual(druidGranularities(1), { query: 'second', segment: 'hour' });
    assert.deepEqual(druidGranularities(300), { query: { type: 'duration', duration: 300_000 }, segment: 'hour' });
    assert.deepEqual(druidGranularities(3600), { query: 'hour', segment: 'hour' });
    assert.deepEqual(druidGranularities(7200), { query: { type: 'duration', duration: 7_200_000 }, segment: 'day' });
    assert.deepEqual(druidGranularities(86400), { query: 'day', segment: 'day' });
    assert.deepEqual(druidGranularities(7 * 86400), { query: { type: 'duration', duration: 7 * 86_400_000 }, segment: 'month' });
    assert.throws(() => druidGranularities(29 * 86400), (e: unknown) => e instanceof DredgeError && /longer than 28 days/.test(e.message));
    for (const w of [1, 60, 300, 3600, 7200, 86400, 7 * 86400]) checkDocumentedShape(druidSpec({ stream: 's', dimensions: 'src.app', windowSeconds: w }));
  });

  it('endpoint: from --region (AWS_REGION otherwise), or --endpoint as given; --row-id-dimension; --datasource', async () => {
    const io = (o: Out): Json => {
      assert.equal(o.code, 0, o.stderr);
      return obj(obj(obj(JSON.parse(o.stdout), 'x').spec, 'spec').ioConfig, 'io');
    };
    assert.equal(io(await cli(['--stream', 's', '--region', 'eu-west-1'])).endpoint, 'kinesis.eu-west-1.amazonaws.com');
    assert.equal(io(await cli(['--stream', 's'], { AWS_REGION: 'ap-southeast-2' })).endpoint, 'kinesis.ap-southeast-2.amazonaws.com');
    assert.equal(io(await cli(['--stream', 's', '--region', 'cn-north-1'])).endpoint, 'kinesis.cn-north-1.amazonaws.com.cn');
    assert.equal(io(await cli(['--stream', 's', '--endpoint', 'http://localstack:4566'])).endpoint, 'http://localstack:4566');
    const r = await cli(['--stream', 's', '--row-id-dimension', '--datasource', 'vpc_flows', '--dimensions', 'src.app,dst.app', '--window', '1h']);
    assert.equal(r.code, 0, r.stderr);
    const spec = JSON.parse(r.stdout) as Json;
    checkDocumentedShape(spec);
    const ds = obj(obj(spec.spec, 's').dataSchema, 'd');
    assert.equal(ds.dataSource, 'vpc_flows');
    assert.deepEqual(obj(ds.dimensionsSpec, 'x').dimensions, ['src.app', 'dst.app', 'src.reason', 'dst.reason', 'row_id']);
    assert.ok(!(ds.metricsSpec as Json[]).some((m) => m.type === 'hyperUnique'));
    assert.equal(obj(ds.granularitySpec, 'g').queryGranularity, 'hour');
  });

  it('--post sends the spec to <overlord>/druid/indexer/v1/supervisor and prints the answer', async () => {
    const seen: { method?: string; url?: string; type?: string; body?: unknown }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(raw) as unknown });
        const body = JSON.parse(raw) as Json;
        const ok = req.method === 'POST' && req.url === '/druid/indexer/v1/supervisor' && obj(obj(body.spec, 's').ioConfig, 'i').stream === 'flows';
        res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' });
        res.end(ok ? '{"id":"dredge_flows"}' : '{"error":"druidException","errorCode":"invalidInput","errorMessage":"Cannot construct instance of `KinesisSupervisorIOConfig`, problem: stream cannot be null"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await cli(['--stream', 'flows', '--region', 'us-west-2', '--post', url + '/']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '{\n  "id": "dredge_flows"\n}\n');
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.method, 'POST');
      assert.equal(seen[0]?.url, '/druid/indexer/v1/supervisor');
      assert.match(seen[0]?.type ?? '', /^application\/json/);
      assert.deepEqual(seen[0]?.body, druidSpec({ stream: 'flows', dimensions: DEFAULT_DIMENSIONS, windowSeconds: 60, region: 'us-west-2' }));
      const bad = await cli(['--stream', 'other', '--post', url]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, '');
      assert.match(bad.stderr, /refused the supervisor spec with HTTP 400: Cannot construct instance of `KinesisSupervisorIOConfig`, problem: stream cannot be null/);
    } finally {
      server.close();
    }
    const gone = await cli(['--stream', 'flows', '--post', url]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /cannot reach the Overlord at http:\/\/127\.0\.0\.1:\d+\/druid\/indexer\/v1\/supervisor \(ECONNREFUSED\)/);
  });

  it('refuses bad flags: usage errors exit 2, bad values exit 1, nothing on stdout', async () => {
    const cases: [string[], number, RegExp][] = [
      [[], 2, /--stream STREAM is required/],
      [['--stream'], 2, /argument missing|requires|--stream/],
      [['--stream', 's', '--bogus'], 2, /Unknown option '--bogus'/],
      [['--stream', 's', 'extra'], 2, /unexpected argument "extra"/],
      [['--stream', 's', '--window', 'soon'], 2, /--window takes a duration/],
      [['--stream', 's', '--window', '0s'], 2, /--window takes a duration/],
      [['--stream', 's', '--post', 'overlord:8081'], 2, /--post takes an http/],
      [['--stream', 's', '--endpoint', 'not a url'], 2, /--endpoint takes a URL/],
      [['--stream', 'bad/name'], 1, /not a Kinesis stream name/],
      [['--stream', 's', '--dimensions', 'src.app,srcaddr'], 1, /srcaddr is an address/],
      [['--stream', 's', '--region', 'mars'], 1, /not an AWS region name/],
      [['--stream', 's', '--datasource', '.hidden'], 1, /not a Druid datasource name/],
    ];
    for (const [args, code, err] of cases) {
      const r = await cli(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr, err, args.join(' '));
    }
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: dredge druid-spec --stream STREAM/);
  });
});
