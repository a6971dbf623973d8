// A minimal consumer of CBSA's durable handoff with SINK=nats: a durable pull consumer on the
// JetStream stream with explicit acks. It prints each event and acknowledges it after handling;
// an event it received but never acked (it crashed) is redelivered after ACK_WAIT. Run several
// copies with the same CONSUMER name to share the work.
//
//   NATS_URL=nats://127.0.0.1:4222 node examples/nats-consumer.mjs
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const servers = (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',');
const stream = process.env.NATS_STREAM ?? 'CBSA';
const durable = process.env.CONSUMER ?? 'auth-scoring';
const nc = await connect({ servers, token: process.env.NATS_TOKEN || undefined });

// Creating a durable consumer that exists with the same settings is a no-op.
const jsm = await jetstreamManager(nc);
await jsm.consumers.add(stream, {
  durable_name: durable,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: 30_000_000_000, // 30 s in nanoseconds
});
const consumer = await jetstream(nc).consumers.get(stream, durable);

function handle(msg) {
  const h = msg.headers;
  // msg.string() is the client's JSON exactly as sent; the metadata travels in headers.
  console.log(
    `#${h.get('message_id')} ${h.get('category')} from ${h.get('client_id')} at ${h.get('server_timestamp')}: ${msg.string()}`,
  );
}

const messages = await consumer.consume({ max_messages: 100 });
const stop = () => void messages.stop();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

for await (const msg of messages) {
  handle(msg);
  await msg.ackAck(); // waits for the server to confirm the ack
}
await nc.drain();
