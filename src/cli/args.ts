// Small helpers over node:util parseArgs so every command reports bad flags the same way.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export class CliUsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses argv strictly; an unknown flag or missing value becomes a CliUsageError naming the fix. */
export function parseCli<T extends Options>(argv: string[], options: T, help: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliUsageError(`${(e as Error).message.split('\n')[0]}\n\n${help}`);
  }
}
