import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { IndexBuilder } from '../../src/index/builder.js';
import { parseEvents } from '../../src/index/load/events.js';
import { parseIpRanges } from '../../src/index/load/ip-ranges.js';
import { parseSnapshot } from '../../src/index/load/snapshot.js';
import { parseDuration, parseTime } from '../../src/index/load/time.js';
import { fixture, T0, who } from './helpers.js';

function rejects(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_INDEX' && re.test(e.message));
}

describe('snapshot loader', () => {
  it('reads CSV: standard columns, quoted cells, validity bounds, extra columns kept', () => {
    const rows = parseSnapshot(fixture('snapshot.csv'), 'snapshot.csv');
    assert.equal(rows.length, 6);
    const r = rows[2]!;
    assert.equal(r.cidr, '10.1.2.3');
    assert.equal(r.meta.app, 'checkout');
    assert.equal(r.meta.interface_id, 'eni-0c1');
    assert.deepEqual(r.meta.extra, { team: 'payments' });
    assert.deepEqual(r.origin, { file: 'snapshot.csv', line: 4 });
    assert.equal(rows[3]!.validFrom, T0 - 3600);
    assert.equal(rows[3]!.validTo, T0);
    assert.equal(rows[5]!.cidr, '2001:db8:100::/48');
    assert.deepEqual(rows[5]!.meta.extra, { team: 'net, ops' });
  });

  it('reads NDJSON with the same names; epoch seconds; interface-only rows', () => {
    const rows = parseSnapshot(fixture('snapshot.ndjson'), 'snapshot.ndjson');
    assert.equal(rows.length, 3);
    assert.equal(rows[1]!.validFrom, 1763636400);
    assert.deepEqual(rows[1]!.meta.extra, { cost_center: 'cc-42' });
    assert.equal(rows[2]!.cidr, null);
    assert.equal(rows[2]!.meta.interface_id, 'eni-0ff');
  });

  it('names file, line, field and the fix on bad input', () => {
    rejects(() => parseSnapshot('app,owner\nx,y\n', 's.csv'), /^s\.csv:1: .*no "cidr" column/);
    rejects(() => parseSnapshot('cidr,app\n10.0.0.0/8,a\n10.1.0.0/16\n', 's.csv'), /^s\.csv:3: has 1 cells but the header names 2 columns/);
    rejects(() => parseSnapshot('cidr,app,valid_from\n10.0.0.0/8,a,2026-11-20T12:00:00\n', 's.csv'), /^s\.csv:2: field valid_from: .*no time zone; add Z/);
    rejects(() => parseSnapshot('cidr,app,valid_from,valid_to\n10.0.0.0/8,a,200,100\n', 's.csv'), /^s\.csv:2: field valid_to: must be later than valid_from/);
    rejects(() => parseSnapshot('cidr,app\n,a\n', 's.csv'), /^s\.csv:2: field cidr: is empty/);
    rejects(() => parseSnapshot('{"cidr":"10.0.0.0/8"}\n{"cidr": 10}\n', 's.ndjson'), /^s\.ndjson:2: field cidr: expected text/);
    rejects(() => parseSnapshot('{"cidr":"10.0.0.0/8"}\n{oops}\n', 's.ndjson'), /^s\.ndjson:2: not valid JSON/);
    rejects(() => parseSnapshot('{"cidr":"10.0.0.0/8","app":{"x":1}}\n', 's.ndjson'), /^s\.ndjson:1: field app: expected text/);
    const b = new IndexBuilder();
    rejects(() => parseSnapshot('cidr,app\n10.0.0.300/8,a\n', 's.csv').forEach((r) => b.addSnapshotRow(r)), /^s\.csv:2: field cidr: "10\.0\.0\.300" is not an IPv4 or IPv6 address/);
    rejects(() => parseSnapshot('cidr,app\n10.0.0.0/33,a\n', 's.csv').forEach((r) => b.addSnapshotRow(r)), /^s\.csv:2: field cidr: prefix length \/33 exceeds \/32/);
  });
});

describe('events loader', () => {
  it('reads assign/release with ISO or epoch times and metadata keys', () => {
    const ev = parseEvents(fixture('events.ndjson'), 'events.ndjson');
    assert.equal(ev.length, 7);
    assert.deepEqual(ev[1], { time: T0 + 360, type: 'assign', cidr: '10.1.2.3', meta: { app: 'ledger', cluster: 'prod-a', account: '123456789012', region: 'us-east-1' }, origin: { file: 'events.ndjson', line: 2 } });
    assert.equal(ev[6]!.type, 'release');
    assert.deepEqual(ev[6]!.meta, {});
  });

  it('rejects bad lines with the fix', () => {
    rejects(() => parseEvents('{"type":"assign","cidr":"10.0.0.1"}\n', 'e'), /^e:1: field time: is missing/);
    rejects(() => parseEvents('{"time":1,"type":"grant","cidr":"10.0.0.1"}\n', 'e'), /^e:1: field type: is "grant"; it must be "assign" or "release"/);
    rejects(() => parseEvents('{"time":1,"type":"assign"}\n', 'e'), /^e:1: field cidr: is missing/);
    rejects(() => parseEvents('{"time":1763640000000,"type":"assign","cidr":"10.0.0.1"}\n', 'e'), /looks like milliseconds/);
  });
});

describe('ip-ranges loader', () => {
  it('resolves AWS public space to the most specific non-AMAZON service', () => {
    const { prefixes, syncToken } = parseIpRanges(fixture('ip-ranges.json'), 'ip-ranges.json');
    assert.equal(syncToken, '1763640000');
    assert.equal(prefixes.length, 11);
    const b = new IndexBuilder();
    for (const p of prefixes) b.addAwsPrefix(p);
    b.addSnapshotRow({ cidr: '52.94.7.7', meta: { app: 'my-eip' }, validFrom: T0, validTo: T0 + 60 });
    const v = b.freeze().view;
    assert.equal(who(v, '3.5.141.1', T0), 'aws:S3:ap-northeast-2');
    assert.equal(who(v, '52.94.1.1', T0), 'aws:EC2:us-east-1');
    assert.equal(who(v, '52.94.5.1', T0), 'aws:EC2:us-east-1'); // AMAZON-only /24 inside EC2 /16
    assert.equal(who(v, '52.94.6.1', T0), 'aws:DYNAMODB:us-east-1');
    assert.equal(who(v, '15.230.0.9', T0), 'aws:AMAZON:us-west-2');
    assert.equal(who(v, '2600:1f18::5', T0), 'aws:EC2:us-east-1');
    assert.equal(who(v, '2a05:d07a:a0ff::1', T0), 'aws:S3:eu-south-1');
    assert.equal(who(v, '52.94.7.7', T0 + 30), 'my-eip');
    assert.equal(who(v, '52.94.7.7', T0 + 90), 'aws:EC2:us-east-1');
    assert.equal(who(v, '8.8.8.8', T0), 'internet');
  });

  it('rejects files that are not ip-ranges.json', () => {
    rejects(() => parseIpRanges('[1]', 'r.json'), /expected an object/);
    rejects(() => parseIpRanges('{"x":1}', 'r.json'), /no "prefixes"/);
    rejects(() => parseIpRanges('{"prefixes":[{"ip_prefix":"1.0.0.0/8","region":"x"}]}', 'r.json'), /prefixes\[0\]: field service is missing/);
  });
});

describe('times and durations', () => {
  it('parses ISO-8601 with zones and epoch seconds; durations', () => {
    assert.equal(parseTime('2026-11-20T12:00:00Z'), T0);
    assert.equal(parseTime('2026-11-20T13:00:00+01:00'), T0);
    assert.equal(parseTime('2026-11-20T12:00:00.250Z'), T0 + 0.25);
    assert.equal(parseTime(String(T0)), T0);
    assert.equal(parseDuration('2h'), 7200);
    assert.equal(parseDuration('90m'), 5400);
    assert.equal(parseDuration('15'), 15);
    assert.equal(parseDuration('2 weeks'), null);
  });
});

describe('fixture index end to end', () => {
  it('snapshot + events + ip-ranges answer as documented in the README', () => {
    const b = new IndexBuilder({ horizonSeconds: null });
    for (const r of parseSnapshot(fixture('snapshot.csv'), 'snapshot.csv')) b.addSnapshotRow(r);
    for (const r of parseSnapshot(fixture('snapshot.ndjson'), 'snapshot.ndjson')) b.addSnapshotRow(r);
    for (const e of parseEvents(fixture('events.ndjson'), 'events.ndjson')) b.addEvent(e);
    for (const p of parseIpRanges(fixture('ip-ranges.json'), 'ip-ranges.json').prefixes) b.addAwsPrefix(p);
    const v = b.freeze().view;
    assert.equal(who(v, '10.1.2.3', T0 + 197), 'checkout');
    assert.equal(who(v, '10.1.2.3', T0 + 330), '{"account":"123456789012","region":"us-east-1","az":"use1-az1","vpc":"vpc-0a1","subnet":"subnet-11","team":"platform"}');
    assert.equal(who(v, '10.1.2.3', T0 + 420), 'ledger');
    assert.equal(who(v, '10.1.2.3', T0 + 1200), 'reports');
    assert.equal(who(v, '10.1.2.9', T0 + 660), 'conflict');
    assert.equal(who(v, '10.1.2.4', T0 - 1800), 'search');
    assert.equal(who(v, '10.1.2.4', T0), 'cart');
    assert.equal(who(v, '10.2.5.7', T0), 'billing');
    assert.equal(who(v, '2001:db8:100:1::1', T0), 'ipv6-edge');
    assert.equal(v.meta.record(v.lookupV4(0x0a020507, T0)).cost_center, 'cc-42');
  });
});

describe('loaders report every bad line at once, in line order', () => {
  it('a snapshot with a bad prefix before a bad time names both, prefix first', () => {
    const csv = 'cidr,app,valid_from\n10.0.0.0/33,x,\n10.0.0.1,y,2026-11-20T12:00:00\n10.0.0.2,z,\n';
    assert.throws(
      () => parseSnapshot(csv, 'inv.csv'),
      (e: unknown) =>
        e instanceof DredgeError &&
        /inv\.csv: 2 bad lines/.test(e.message) &&
        e.message.indexOf('inv.csv:2: field cidr') < e.message.indexOf('inv.csv:3: field valid_from') &&
        e.message.includes('inv.csv:2: field cidr') &&
        !e.message.includes('inv.csv:4'),
    );
  });

  it('events: each bad line listed, the count beyond the first 20 summarized', () => {
    const bad = Array.from({ length: 25 }, (_, i) => JSON.stringify({ time: '2026-11-20T12:00:00Z', type: 'grant', cidr: `10.0.0.${i}` }));
    const good = JSON.stringify({ time: '2026-11-20T12:00:00Z', type: 'assign', cidr: '10.0.0.99', app: 'a' });
    assert.throws(
      () => parseEvents([good, ...bad, '{"time":"x","type":"assign","cidr":"10.0.0.300"}'].join('\n'), 'ev.ndjson'),
      (e: unknown) => e instanceof DredgeError && /ev\.ndjson: 26 bad lines/.test(e.message) && e.message.includes('ev.ndjson:2: field type') && /… and 6 more/.test(e.message),
    );
    assert.equal(parseEvents(good, 'ev.ndjson').length, 1);
  });
});
