// Regenerates samples/ (bundled with the package, decoded by `dredge demo`) from the seeded generator.
// Run after `npm run build`: node scripts/make-samples.mjs
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { FlowFormat } from '../dist/src/parse/fields.js';
import { TrafficGenerator, V5_CUSTOM_20, cloudWatchEnvelopes } from '../dist/src/sources/generator/traffic.js';
import { buildWorld } from '../dist/src/sources/generator/world.js';

const dir = new URL('../samples/', import.meta.url);
const v2 = new TrafficGenerator(FlowFormat.V2_DEFAULT, { seed: 1, hosts: 2000, subnets: 100 });
const lines = v2.lines(5000).toString('latin1').split('\n');
lines.splice(1234, 0, '2 123456789012 eni-0bad 10.1.2.300 10.1.2.3 443 51000 6 10 840 1763900100 1763900160 ACCEPT OK');
writeFileSync(new URL('vpc-flow-v2.log', dir), lines.join('\n'));

const v5fmt = FlowFormat.parse(V5_CUSTOM_20);
const v5 = new TrafficGenerator(v5fmt, { seed: 2, hosts: 2000, subnets: 100 });
writeFileSync(new URL('s3-custom-v5.log.gz', dir), gzipSync(v5fmt.names.join(' ') + '\n' + v5.lines(5000).toString('latin1')));

const cw = new TrafficGenerator(FlowFormat.V2_DEFAULT, { seed: 3, hosts: 2000, subnets: 100 });
const cwLines = cw.lines(5000).toString('latin1').trimEnd().split('\n');
writeFileSync(new URL('cloudwatch-envelopes.json.gz', dir), Buffer.concat(cloudWatchEnvelopes(cwLines, 500)));
// The inventory those flows resolve against (`dredge run` in the README quickstart).
const world = buildWorld({ seed: 1, hosts: 2000, subnets: 100 });
writeFileSync(new URL('inventory/snapshot.csv', dir), world.snapshotCsv);
writeFileSync(new URL('inventory/events.ndjson', dir), world.eventsNdjson);
console.log('samples written');
