import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IndexBuilder } from '../../src/index/builder.js';
import { T0, who } from './helpers.js';

function build(rows: [string, string][]) {
  const b = new IndexBuilder({ horizonSeconds: null });
  for (const [cidr, app] of rows) b.addSnapshotRow({ cidr, meta: { app } });
  return b.freeze().view;
}

describe('longest-prefix match', () => {
  it('nested prefixes: the deepest covering prefix answers', () => {
    const v = build([
      ['10.0.0.0/8', 'a8'],
      ['10.1.0.0/16', 'a16'],
      ['10.1.2.0/24', 'a24'],
      ['10.1.2.3/32', 'a32'],
      ['10.1.2.128/25', 'a25'],
    ]);
    assert.equal(who(v, '10.1.2.3', T0), 'a32');
    assert.equal(who(v, '10.1.2.2', T0), 'a24');
    assert.equal(who(v, '10.1.2.4', T0), 'a24');
    assert.equal(who(v, '10.1.2.127', T0), 'a24');
    assert.equal(who(v, '10.1.2.128', T0), 'a25');
    assert.equal(who(v, '10.1.2.255', T0), 'a25');
    assert.equal(who(v, '10.1.3.0', T0), 'a16');
    assert.equal(who(v, '10.1.255.255', T0), 'a16');
    assert.equal(who(v, '10.2.0.0', T0), 'a8');
    assert.equal(who(v, '10.255.255.255', T0), 'a8');
    assert.equal(who(v, '11.0.0.0', T0), 'internet');
    assert.equal(who(v, '9.255.255.255', T0), 'internet');
  });

  it('/0 covers everything; /32 at both ends of the space', () => {
    const v = build([
      ['0.0.0.0/0', 'all'],
      ['0.0.0.0/32', 'first'],
      ['255.255.255.255/32', 'last'],
      ['::/0', 'all6'],
      ['2001:db8::1/128', 'host6'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128', 'last6'],
    ]);
    assert.equal(who(v, '0.0.0.0', T0), 'first');
    assert.equal(who(v, '0.0.0.1', T0), 'all');
    assert.equal(who(v, '255.255.255.254', T0), 'all');
    assert.equal(who(v, '255.255.255.255', T0), 'last');
    assert.equal(who(v, '192.168.1.1', T0), 'all');
    assert.equal(who(v, '2001:db8::1', T0), 'host6');
    assert.equal(who(v, '2001:db8::2', T0), 'all6');
    assert.equal(who(v, '2001:db8::', T0), 'all6');
    assert.equal(who(v, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', T0), 'last6');
    assert.equal(who(v, '::', T0), 'all6');
  });

  it('IPv6 nesting through /128, across word boundaries', () => {
    const v = build([
      ['2001:db8::/32', 'p32'],
      ['2001:db8:0:1::/64', 'p64'],
      ['2001:db8:0:1:8000::/65', 'p65'],
      ['2001:db8:0:1:8000::7/128', 'p128'],
      ['2001:db8:0:1:8000::6/127', 'p127'],
    ]);
    assert.equal(who(v, '2001:db8:0:1:8000::7', T0), 'p128');
    assert.equal(who(v, '2001:db8:0:1:8000::6', T0), 'p127');
    assert.equal(who(v, '2001:db8:0:1:8000::8', T0), 'p65');
    assert.equal(who(v, '2001:db8:0:1::ffff', T0), 'p64');
    assert.equal(who(v, '2001:db8:0:2::', T0), 'p32');
    assert.equal(who(v, '2001:db9::', T0), 'internet');
    assert.equal(who(v, 'fd00::1', T0), 'unknown');
    assert.equal(who(v, 'fe80::1', T0), 'unknown');
  });

  it('IPv4-mapped IPv6 addresses and prefixes are IPv4', () => {
    const v = build([
      ['10.1.0.0/16', 'v4'],
      ['::ffff:10.1.2.0/120', 'mapped24'],
    ]);
    assert.equal(who(v, '10.1.2.9', T0), 'mapped24');
    assert.equal(who(v, '::ffff:10.1.2.9', T0), 'mapped24');
    assert.equal(who(v, '::ffff:10.1.3.9', T0), 'v4');
    assert.equal(who(v, '::ffff:8.8.8.8', T0), 'internet');
  });

  it('public vs private addresses no prefix covers', () => {
    const v = build([['10.0.0.0/8', 'corp']]);
    for (const ip of ['172.16.0.1', '172.31.255.255', '192.168.0.1', '100.64.0.1', '100.127.255.255', '169.254.169.254', '127.0.0.1', '::1']) assert.equal(who(v, ip, T0), 'unknown', ip);
    for (const ip of ['172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '8.8.8.8', '2600::1']) assert.equal(who(v, ip, T0), 'internet', ip);
  });

  it('dense prefixes: many /32s inside one /24 go through range lists and child nodes', () => {
    const rows: [string, string][] = [['10.9.0.0/16', 'vpc']];
    for (let i = 0; i < 256; i += 2) rows.push([`10.9.7.${i}`, `h${i}`]);
    for (let i = 0; i < 40; i += 3) rows.push([`10.9.8.${i}`, `k${i}`]);
    const v = build(rows);
    for (let i = 0; i < 256; i++) assert.equal(who(v, `10.9.7.${i}`, T0), i % 2 === 0 ? `h${i}` : 'vpc');
    for (let i = 0; i < 50; i++) assert.equal(who(v, `10.9.8.${i}`, T0), i % 3 === 0 && i < 40 ? `k${i}` : 'vpc');
  });
});
