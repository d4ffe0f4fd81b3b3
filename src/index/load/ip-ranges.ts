// AWS's published ip-ranges.json (https://ip-ranges.amazonaws.com/ip-ranges.json):
//   {"syncToken": "…", "createDate": "…",
//    "prefixes":      [{"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON", …}],
//    "ipv6_prefixes": [{"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2", …}]}
// Each entry becomes an AwsPrefix; the builder picks the most specific non-AMAZON service.

import { DredgeError } from '../../errors.js';
import type { AwsPrefix } from '../builder.js';

export function parseIpRanges(text: string, file: string): { prefixes: AwsPrefix[]; syncToken: string | null; createDate: string | null } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INDEX', `${file}: not valid JSON (${(e as Error).message}); pass AWS's ip-ranges.json as downloaded`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new DredgeError('DREDGE_ERR_INDEX', `${file}: expected an object with "prefixes" and "ipv6_prefixes" (AWS ip-ranges.json format)`);
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.prefixes) && !Array.isArray(d.ipv6_prefixes)) throw new DredgeError('DREDGE_ERR_INDEX', `${file}: no "prefixes" or "ipv6_prefixes" array; is this AWS's ip-ranges.json?`);
  const out: AwsPrefix[] = [];
  const take = (list: unknown, key: string, section: string): void => {
    if (list === undefined) return;
    if (!Array.isArray(list)) throw new DredgeError('DREDGE_ERR_INDEX', `${file}: "${section}" must be an array`);
    list.forEach((e: unknown, i: number) => {
      const where = `${file}: ${section}[${i}]`;
      if (e === null || typeof e !== 'object') throw new DredgeError('DREDGE_ERR_INDEX', `${where}: expected an object`);
      const r = e as Record<string, unknown>;
      for (const f of [key, 'region', 'service']) if (typeof r[f] !== 'string' || r[f] === '') throw new DredgeError('DREDGE_ERR_INDEX', `${where}: field ${f} is missing or not text`);
      out.push({ cidr: r[key] as string, service: r.service as string, region: r.region as string, origin: { file, line: i + 1 } });
    });
  };
  take(d.prefixes, 'ip_prefix', 'prefixes');
  take(d.ipv6_prefixes, 'ipv6_prefix', 'ipv6_prefixes');
  return { prefixes: out, syncToken: typeof d.syncToken === 'string' ? d.syncToken : null, createDate: typeof d.createDate === 'string' ? d.createDate : null };
}
