// Builds the one Kinesis client the source and the producer share (DEPENDENCIES.md §1).
//
// - Credentials: the SDK's standard chain (environment, shared config/SSO, web identity, container and
//   instance roles). Against a local server (an --endpoint on a loopback address) with no
//   AWS_ACCESS_KEY_ID set, placeholder credentials are used: kinesalite checks no signature, and a
//   developer machine without AWS credentials would otherwise fail before the first call.
// - HTTP/1.1 (`NodeHttpHandler`) always. The client's default is an HTTP/2 handler, needed only for
//   SubscribeToShard (enhanced fan-out, which dredge does not use); kinesalite speaks HTTP/1.1 only and
//   fails every call with ERR_HTTP2_ERROR under it. One handler for both cases keeps one code path, and
//   its request timeout turns a hung call into a retriable error instead of a stuck shard.
// - `maxAttempts: 1`: the SDK's own retry (3 attempts, hidden, with its own token bucket) is switched
//   off so throttling and 5xx are retried by retry.ts where they are paced per shard, counted and
//   visible in `shards()`; otherwise one throttle would be retried twice invisibly before our counters
//   saw it, and the SDK's retry quota could give up on a shard that only needs to slow down.
// - Nothing here is logged: the region and endpoint are printed by the callers, credentials never.

import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DredgeError } from '../../errors.js';

export interface KinesisClientOptions {
  /** A Kinesis-compatible endpoint (kinesalite, LocalStack, a VPC endpoint); unset: AWS's for the region. */
  endpoint?: string;
  /** AWS region; unset: AWS_REGION / AWS_DEFAULT_REGION / the shared config file (us-east-1 for a local endpoint). */
  region?: string;
}

/** Longest a single call may take (a 10 MB GetRecords page included) before it is retried. */
const REQUEST_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export function makeKinesisClient(o: KinesisClientOptions = {}): KinesisClient {
  // The SDK prints a Node 20 support notice on every client; it says nothing a dredge user can act on.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let endpoint: string | undefined;
  let local = false;
  if (o.endpoint !== undefined && o.endpoint !== '') {
    let url: URL;
    try {
      url = new URL(o.endpoint);
    } catch {
      throw new DredgeError('DREDGE_ERR_CONFIG', `--endpoint "${o.endpoint}" is not a URL; give one like http://127.0.0.1:4567`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DredgeError('DREDGE_ERR_CONFIG', `--endpoint must start with http:// or https://, got "${o.endpoint}"`);
    endpoint = url.href.replace(/\/$/, '');
    local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname.endsWith('.localhost');
  }
  const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (local ? 'us-east-1' : undefined);
  const agent = { keepAlive: true, maxSockets: 256 };
  return new KinesisClient({
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(local && process.env.AWS_ACCESS_KEY_ID === undefined && process.env.AWS_PROFILE === undefined ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      httpAgent: agent,
      httpsAgent: agent,
    }),
  });
}
