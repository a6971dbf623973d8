// The AsyncAPI document (docs/asyncapi.yaml) as validators: e2e suites check the frames the real
// service sends against its message schemas, so the document cannot drift from the code.
import { Parser } from '@asyncapi/parser';
import { Ajv, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/config/env.js';

export const ASYNCAPI_FILE = join(PACKAGE_ROOT, 'docs', 'asyncapi.yaml');

export type ChannelName = 'ingest' | 'monitor';

interface ParsedDocument {
  channels: Record<ChannelName, { messages: Record<string, { payload: object }> }>;
}

export interface Contract {
  /** The names of the messages of a channel whose payload schema accepts `frame` (a JSON text). */
  matches(channel: ChannelName, frame: string): string[];
  /** Throws with ajv's errors unless `frame` is valid as message `message` of the channel. */
  check(channel: ChannelName, message: string, frame: string): void;
}

export async function parseAsyncApi() {
  return new Parser().parse(readFileSync(ASYNCAPI_FILE, 'utf8'));
}

export async function loadContract(): Promise<Contract> {
  const { document, diagnostics } = await parseAsyncApi();
  if (!document) throw new Error(`invalid AsyncAPI document: ${JSON.stringify(diagnostics)}`);
  const json = document.json<ParsedDocument>();
  // The parser adds x-parser-* annotations to every schema: not keywords ajv must know.
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validators = new Map<string, ValidateFunction>();
  for (const channel of ['ingest', 'monitor'] as const) {
    for (const [name, message] of Object.entries(json.channels[channel].messages)) {
      validators.set(`${channel}/${name}`, ajv.compile(message.payload));
    }
  }
  const validator = (channel: ChannelName, message: string) => {
    const v = validators.get(`${channel}/${message}`);
    if (!v) throw new Error(`no message ${message} on channel ${channel} in ${ASYNCAPI_FILE}`);
    return v;
  };
  return {
    matches(channel, frame) {
      const value: unknown = JSON.parse(frame);
      return [...validators.keys()]
        .filter((key) => key.startsWith(`${channel}/`) && validators.get(key)!(value))
        .map((key) => key.slice(channel.length + 1));
    },
    check(channel, message, frame) {
      const v = validator(channel, message);
      if (!v(JSON.parse(frame))) {
        throw new Error(`${channel}/${message} does not match ${frame}: ${ajv.errorsText(v.errors)}`);
      }
    },
  };
}
