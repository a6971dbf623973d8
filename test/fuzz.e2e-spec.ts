// Fuzz: 20 clients send random frames to /ws/behaviour for FUZZ_SECONDS (valid and invalid JSON,
// junk bytes, text and binary, fragmented, pings, invalid UTF-8, oversize). Each client predicts the
// outcome of every frame it sends from the contract and checks the answers in order. A failure
// prints FUZZ_SEED: the same seed sends the same frames again.
import { isUtf8 } from 'node:buffer';
import { randomInt } from 'node:crypto';
import WebSocket from 'ws';
import { type RunningApp, startApp } from './support/app.js';
import { sleep } from '../harness/wait.mjs';
import { TIMEOUT_MS, WsClient, expectServed } from '../harness/ws-client.mjs';

const SECONDS = Number(process.env.FUZZ_SECONDS || 5);
const SEED = Number(process.env.FUZZ_SEED || randomInt(2 ** 31));
if (!(SECONDS > 0) || !Number.isSafeInteger(SEED)) {
  throw new Error('FUZZ_SECONDS must be a positive number and FUZZ_SEED an integer');
}
const CLIENTS = 20;
/** Frames a client may have sent and not yet seen answered; keeps the test from running away. */
const MAX_IN_FLIGHT = 16;
/** Small, so oversize frames are cheap to send. */
const MAX_MESSAGE_BYTES = 65_536;
const CLOSE_INVALID_PAYLOAD = 1007;
const CLOSE_TOO_BIG = 1009;

const ACK = {
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
};
const MALFORMED = { status: 'error', message: 'Malformed JSON' };

type Outcome = 'received' | 'malformed';

/** Every kind of message randomMessage() sends. */
const KINDS = [
  'valid JSON text',
  'invalid JSON text',
  'valid JSON binary',
  'junk binary',
  'fragmented text',
  'fragmented binary',
  'invalid UTF-8 text',
  'oversize',
] as const;

/** A data message sent and not yet answered, described for the assertion that checks its answer. */
interface Pending {
  step: number;
  kind: string;
  outcome: Outcome;
}

/** What the contract says the server answers to a data message: UTF-8 decode, then JSON.parse. */
function outcome(payload: Buffer): Outcome {
  try {
    JSON.parse(payload.toString());
    return 'received';
  } catch {
    return 'malformed';
  }
}

/** mulberry32: small, and the same sequence for the same seed on every run. */
class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** In [0, 1). */
  float(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.float() * max);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(length: number, from = 0, to = 256): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = from + this.int(to - from);
    return out;
  }
}

// --- Frame generators ------------------------------------------------------------------------

const KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'event_type',
  'user_id',
  '',
];
// Escapes, controls, line separators, a BOM, non-characters, astral and lone surrogates.
const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', 'é', 'ß', '中', '\u2028'];
const ODD_CHARS = ['\u2029', '\ufeff', '\uffff', '😀', '𝄞', '\ud800', '\udfff'];
const NUMBERS = ['0', '-0', '1e308', '1E-7', '0.5e+2', '-12.75', '123456789012345678901234567890'];
const NOT_JSON = [
  ...['', ' ', 'NaN', 'Infinity', 'undefined', "{'a':1}", '{"a":1,}', '[1,]', '{"a":1}{"b":2}'],
  ...['01', '+1', '.5', '1.', '"\t"', '"\\x"', 'tru', '\ufeff{}', '{"a" 1}', '{a:1}', '[', '"'],
  ...['/* */ {}', '{"a":1}//', 'null null', '0x10', '\u00a0{}'],
];
const BAD_UTF8 = [
  [0xff],
  [0xfe],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0x80],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
];

function randomString(rng: Rng): string {
  let out = '';
  for (let n = rng.int(12); n > 0; n--) {
    const roll = rng.int(10);
    out +=
      roll < 6 ? rng.pick(CHARS) : roll < 8 ? rng.pick(ODD_CHARS) : String.fromCodePoint(rng.int(0x110000));
  }
  return out;
}

function randomJson(rng: Rng, depth = 0): string {
  const space = () => (rng.chance(0.1) ? rng.pick([' ', '\n', '\t', '\r\n']) : '');
  const items = (make: () => string) =>
    Array.from({ length: rng.int(5) }, make).join(space() + ',' + space());
  switch (rng.int(depth >= 4 ? 4 : 6)) {
    case 0:
      return rng.pick(['null', 'true', 'false']);
    case 1:
      return rng.chance(0.5) ? rng.pick(NUMBERS) : String((rng.float() - 0.5) * 10 ** rng.int(20));
    case 2:
    case 3:
      return JSON.stringify(randomString(rng));
    case 4:
      return '[' + space() + items(() => randomJson(rng, depth + 1)) + space() + ']';
    default: {
      const key = () => JSON.stringify(rng.chance(0.5) ? rng.pick(KEYS) : randomString(rng));
      return '{' + space() + items(() => key() + space() + ':' + space() + randomJson(rng, depth + 1)) + '}';
    }
  }
}

/** Valid JSON of a random size: mostly small, sometimes deeply nested, sometimes up to the limit. */
function validJson(rng: Rng): string {
  const roll = rng.int(10);
  if (roll === 0) {
    const depth = 1 + rng.int(10_000);
    return '['.repeat(depth) + ']'.repeat(depth);
  }
  const json = randomJson(rng);
  if (roll > 2) return json;
  const size = rng.chance(0.2) ? MAX_MESSAGE_BYTES : rng.int(MAX_MESSAGE_BYTES + 1);
  const padding = size - Buffer.byteLength(`{"pad":"","v":${json}}`);
  return padding < 0 ? json : `{"pad":"${'x'.repeat(padding)}","v":${json}}`;
}

/** Usually not JSON; whatever it is, the expected answer comes from outcome(). */
function invalidJson(rng: Rng): string {
  const json = randomJson(rng);
  const at = rng.int(json.length + 1);
  switch (rng.int(5)) {
    case 0:
      return rng.pick(NOT_JSON);
    case 1:
      return json.slice(0, at);
    case 2:
      return json.slice(0, at) + rng.pick([...'{}[],:"\'\\x']) + json.slice(at);
    case 3:
      return json + rng.pick([',', '}', ']', 'x', ' 1', '"']);
    default:
      return rng.pick(['{', '[', '"']) + json;
  }
}

function junk(rng: Rng): Buffer {
  const size = rng.pick([rng.int(16), rng.int(1024), rng.int(MAX_MESSAGE_BYTES - 1)]);
  switch (rng.int(4)) {
    case 0:
      return rng.bytes(size);
    case 1:
      return rng.bytes(size, 0x20, 0x7f);
    case 2:
      // Non-ASCII bytes in quotes: decode to valid characters and U+FFFD, so this is a JSON string.
      return Buffer.concat([Buffer.from('"'), rng.bytes(size, 0x80, 0x100), Buffer.from('"')]);
    default:
      return Buffer.concat([Buffer.from(randomJson(rng)), rng.bytes(1 + rng.int(8))]);
  }
}

/** Text (valid JSON or not) with a byte sequence spliced in that is never valid UTF-8. */
function invalidUtf8(rng: Rng): Buffer {
  const text = Buffer.from(rng.chance(0.5) ? randomJson(rng) : invalidJson(rng));
  const at = rng.int(text.length + 1);
  const bytes = Buffer.concat([text.subarray(0, at), Buffer.from(rng.pick(BAD_UTF8)), text.subarray(at)]);
  return isUtf8(bytes) ? Buffer.concat([bytes, Buffer.from([0xff])]) : bytes;
}

/** Cuts a payload at random byte offsets (through UTF-8 sequences too); empty fragments allowed. */
function fragments(rng: Rng, payload: Buffer): Buffer[] {
  const cuts = Array.from({ length: 1 + rng.int(5) }, () => rng.int(payload.length + 1)).sort(
    (a, b) => a - b,
  );
  return [0, ...cuts].map((from, i) => payload.subarray(from, cuts[i] ?? payload.length));
}

interface Message {
  kind: string;
  binary: boolean;
  /** More than one: sent as a fragmented message. */
  parts: Buffer[];
  /** The server must close the connection with this code instead of answering. */
  closeCode?: number;
}

function randomMessage(rng: Rng): Message {
  const roll = rng.int(100);
  const one = (kind: string, payload: Buffer | string, binary: boolean): Message => ({
    kind,
    binary,
    parts: [Buffer.from(payload)],
  });
  if (roll < 35) return one('valid JSON text', validJson(rng), false);
  if (roll < 52) return one('invalid JSON text', invalidJson(rng), false);
  if (roll < 63) return one('valid JSON binary', validJson(rng), true);
  if (roll < 76) return one('junk binary', junk(rng), true);
  if (roll < 94) {
    const binary = rng.chance(0.5);
    const text = rng.chance(0.7) ? validJson(rng) : invalidJson(rng);
    const payload = binary && rng.chance(0.5) ? junk(rng) : Buffer.from(text);
    return { kind: `fragmented ${binary ? 'binary' : 'text'}`, binary, parts: fragments(rng, payload) };
  }
  if (roll < 97) {
    const payload = invalidUtf8(rng);
    const parts = rng.chance(0.7) ? [payload] : fragments(rng, payload);
    return { kind: 'invalid UTF-8 text', binary: false, parts, closeCode: CLOSE_INVALID_PAYLOAD };
  }
  const size = MAX_MESSAGE_BYTES + 1 + (rng.chance(0.2) ? 0 : rng.int(2 * MAX_MESSAGE_BYTES));
  const payload = Buffer.alloc(size, 'x');
  const parts = rng.chance(0.5) ? [payload] : fragments(rng, payload);
  return { kind: 'oversize', binary: rng.chance(0.5), parts, closeCode: CLOSE_TOO_BIG };
}

// --- Clients -----------------------------------------------------------------------------------

/** Like WsClient.waitClosed, but clears its timer: thousands of 5 s timers would linger otherwise. */
async function closeCode(client: WsClient): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not closed within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  try {
    return (await Promise.race([client.closed, timeout])).code;
  } finally {
    clearTimeout(timer);
  }
}

interface Tally {
  sent: Record<string, number>;
  pings: number;
  expectedReceived: number;
  expectedMalformed: number;
  received: number;
  malformed: number;
  closes: number;
}

/** One fuzzing client: sessions of random steps, reconnecting after each frame that closes one. */
class FuzzClient {
  readonly tally: Tally = {
    sent: {},
    pings: 0,
    expectedReceived: 0,
    expectedMalformed: 0,
    received: 0,
    malformed: 0,
    closes: 0,
  };
  private readonly rng: Rng;
  private step = 0;
  private doing = 'connecting';

  constructor(
    private readonly url: string,
    private readonly index: number,
    /** Every message id acked to any client. */
    private readonly ids: Set<number>,
  ) {
    this.rng = new Rng(SEED ^ Math.imul(index + 1, 0x9e3779b9));
  }

  async run(deadline: number): Promise<void> {
    try {
      while (Date.now() < deadline) await this.session(deadline);
    } catch (err) {
      if (err instanceof Error) {
        err.message = `FUZZ_SEED=${SEED} client ${this.index} step ${this.step} (${this.doing}): ${err.message}`;
      }
      throw err;
    }
  }

  private async session(deadline: number): Promise<void> {
    this.doing = 'connecting';
    const client = await WsClient.open(this.url);
    const expected: Pending[] = [];
    const pings: Buffer[] = [];
    const pongErrors: string[] = [];
    client.socket.on('pong', (data: Buffer) => {
      const ping = pings.shift();
      if (ping === undefined || !ping.equals(data))
        pongErrors.push(`pong ${data.toString('hex')} for ${ping?.toString('hex')}`);
    });
    const ping = () => {
      const payload = this.rng.bytes(this.rng.int(126));
      pings.push(payload);
      client.socket.ping(payload);
      this.tally.pings++;
    };
    let lastId = 0;
    const answer = async (timeout = TIMEOUT_MS) => {
      const { step, kind, outcome } = expected.shift()!;
      const text = await client.next(timeout).catch(() => {
        throw new Error(
          `no answer to step ${step} (${kind}, ${expected.length} more after it) in ${timeout} ms`,
        );
      });
      const frame = JSON.parse(text) as { message_id?: number };
      // The step and kind ride along so that a failure names the frame being answered.
      expect({ step, kind, answer: frame }).toEqual({
        step,
        kind,
        answer: outcome === 'received' ? ACK : MALFORMED,
      });
      if (frame.message_id !== undefined) {
        expect(frame.message_id).toBeGreaterThan(lastId);
        expect(this.ids.has(frame.message_id)).toBe(false);
        lastId = frame.message_id;
        this.ids.add(lastId);
        this.tally.received++;
      } else {
        this.tally.malformed++;
      }
    };

    for (; Date.now() < deadline; this.step++) {
      if (this.rng.chance(0.08)) {
        this.doing = 'ping';
        for (let n = 1 + this.rng.int(3); n > 0; n--) ping();
        continue;
      }
      const message = randomMessage(this.rng);
      this.doing = message.kind;
      this.tally.sent[message.kind] = (this.tally.sent[message.kind] ?? 0) + 1;
      const last = message.parts.length - 1;
      const pingsBefore = pings.length;
      for (let i = 0; i <= last; i++) {
        client.socket.send(message.parts[i], { binary: message.binary, fin: i === last });
        // Control frames may come between the fragments of a message.
        if (i < last && this.rng.chance(0.2)) ping();
      }
      const pingsInside = pings.length - pingsBefore;

      if (message.closeCode !== undefined) {
        expect(await closeCode(client)).toBe(message.closeCode);
        this.tally.closes++;
        // Everything sent before the closing message was answered before the close, and nothing
        // else came: no frame expected and unanswered, none received and unexpected. Pings sent
        // between its fragments may come after the fragment that got it closed.
        while (expected.length > 0 && client.unread.length > 0) await answer(1);
        const unansweredPings = Math.max(0, pings.length - pingsInside);
        expect({ expected, unread: client.unread, unansweredPings, pongErrors }).toEqual({
          expected: [],
          unread: [],
          unansweredPings: 0,
          pongErrors: [],
        });
        return;
      }

      const want = outcome(Buffer.concat(message.parts));
      expected.push({ step: this.step, kind: message.kind, outcome: want });
      if (want === 'received') this.tally.expectedReceived++;
      else this.tally.expectedMalformed++;
      while (expected.length >= MAX_IN_FLIGHT || (expected.length > 0 && this.rng.chance(0.3)))
        await answer();
    }

    this.doing = 'draining';
    while (expected.length > 0) await answer();
    // A last ping as a fence: its pong comes after any reply to the frames sent before it, so once
    // it is back, a reply nobody expected (a second answer to a frame) is in the unread queue.
    ping();
    for (let waited = 0; pings.length > 0 && waited < TIMEOUT_MS; waited += 10) await sleep(10);
    expect({ expected, unread: client.unread, unansweredPings: pings.length, pongErrors }).toEqual({
      expected: [],
      unread: [],
      unansweredPings: 0,
      pongErrors: [],
    });
    client.close();
    await client.closed;
  }
}

describe('Ingest fuzz (e2e)', () => {
  let running: RunningApp;
  let url: string;

  beforeAll(async () => {
    running = await startApp({ MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
    url = running.ws('/ws/behaviour');
    console.log(`fuzz: FUZZ_SEED=${SEED} FUZZ_SECONDS=${SECONDS}`);
  });
  afterAll(() => running.close());

  it(
    `answers every frame from ${CLIENTS} random clients as the contract says, and keeps serving`,
    async () => {
      // A monitor watches throughout: whatever is ingested, what it is sent must stay valid JSON.
      const monitor = new WebSocket(running.ws('/ws/monitor'));
      const unparsable: string[] = [];
      let monitorFrames = 0;
      monitor.on('message', (data: Buffer) => {
        monitorFrames++;
        try {
          JSON.parse(data.toString());
        } catch {
          unparsable.push(data.toString().slice(0, 200));
        }
      });
      await new Promise((resolve, reject) => monitor.once('open', resolve).once('error', reject));

      const ids = new Set<number>();
      const clients = Array.from({ length: CLIENTS }, (_, i) => new FuzzClient(url, i, ids));
      const deadline = Date.now() + SECONDS * 1000;
      await Promise.all(clients.map((client) => client.run(deadline)));

      const total = (field: Exclude<keyof Tally, 'sent'>) =>
        clients.reduce((sum, client) => sum + client.tally[field], 0);
      const sent: Record<string, number> = {};
      for (const client of clients)
        for (const [kind, n] of Object.entries(client.tally.sent)) sent[kind] = (sent[kind] ?? 0) + n;
      console.log(
        `fuzz: FUZZ_SEED=${SEED} sent ${JSON.stringify(sent)}, ${total('pings')} pings, ` +
          `${total('received')} acks, ${total('malformed')} malformed, ${total('closes')} closes`,
      );

      // Every kind of frame was sent, and every outcome seen: totals of 0 = 0 would prove nothing.
      expect(Object.keys(sent).sort()).toEqual([...KINDS].sort());
      expect(Object.entries(sent).filter(([, n]) => n < 1)).toEqual([]);
      expect({
        pings: total('pings') > 0,
        received: total('received') > 0,
        malformed: total('malformed') > 0,
        closes: total('closes') > 0,
      }).toEqual({ pings: true, received: true, malformed: true, closes: true });
      expect(total('received')).toBe(total('expectedReceived'));
      expect(total('malformed')).toBe(total('expectedMalformed'));
      expect(ids.size).toBe(total('received'));

      let health: { status: number; body: Record<string, unknown> } | undefined;
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`${running.http}/health`);
        health = { status: res.status, body: (await res.json()) as Record<string, unknown> };
        if (health.body.active_connections === 0) break;
        await sleep(50);
      }
      expect(health).toEqual({
        status: 200,
        body: expect.objectContaining({
          status: 'ok',
          active_connections: 0,
          total_messages: total('received'),
          total_errors: total('malformed'),
        }) as unknown,
      });

      expect({ open: monitor.readyState === WebSocket.OPEN, unparsable }).toEqual({
        open: true,
        unparsable: [],
      });
      expect(monitorFrames).toBeGreaterThan(0);
      monitor.close();

      await expectServed(url);
    },
    (SECONDS + 30) * 1000,
  );
});
