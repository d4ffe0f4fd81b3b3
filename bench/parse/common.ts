// What both parse scenarios measure the same way: the yardstick loop and a whole-buffer decode.

import type { FlowFormat } from '../../src/parse/fields.js';
import { decodeBuffer } from '../../src/parse/inflate.js';
import type { ScannerKind } from '../../src/parse/wasm/load.js';

/** The plain JS loop the issue names as the yardstick: count '\n' bytes. */
export function countNewlines(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 10) n++;
  return n;
}

/** Decodes a whole buffer (default scanner unless given) and returns the records decoded. */
export function decodeAll(b: Uint8Array, fields?: FlowFormat, scanner?: ScannerKind): number {
  let rows = 0;
  decodeBuffer(b, {
    fields,
    scanner,
    onBatch: (batch) => {
      rows += batch.length;
    },
    onIssue: () => {},
  });
  return rows;
}
