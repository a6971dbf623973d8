// WS /ws/behaviour: raw frames in, one reply out per frame, in order. Everything else happens in
// StreamService (and, in sink mode, in the EventSink, which writes the acks once the log has answered).
import { Inject } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { OnGatewayConnection } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { LATENCY_SAMPLE_EVERY, MetricsService } from '../metrics/metrics.service.js';
import { EventSink } from '../sink/event-sink.js';
import { UNAVAILABLE_ACK, ackFor } from '../stream/stream-event.js';
import { StreamService } from '../stream/stream.service.js';
import { pauseWhileBackedUp } from '../ws/backpressure.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { RateLimiter } from './rate-limiter.js';

export const RATE_LIMITED = '{"status":"error","message":"Rate limit exceeded"}';
export const CLOSE_POLICY_VIOLATION = 1008;

@WebSocketGateway<GatewayOptions>({ path: '/ws/behaviour', endpoint: 'websocketEndpoint' })
export class IngestGateway implements OnGatewayConnection<WebSocket> {
  private sampled = 0;

  constructor(
    private readonly stream: StreamService,
    private readonly sink: EventSink,
    private readonly metrics: MetricsService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(IngestGateway.name);
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const clientId = newClientId();
    const { rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs, clientMaxBufferBytes } = this.cfg;
    const limiter =
      rateLimitPerConnection > 0
        ? new RateLimiter(rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs, Date.now())
        : undefined;
    this.stream.connectionOpened();
    // The hot path: bound directly on the socket, not through Nest's envelope routing or RxJS.
    // ws hands every frame over as a Buffer (fragments joined, text already checked as UTF-8);
    // binary frames are read as UTF-8 text too.
    const onFrame = this.sink.enabled
      ? (data: Buffer) => this.toSink(socket, clientId, data, limiter)
      : (data: Buffer) => {
          if (limiter !== undefined && !this.admit(socket, limiter, (reply) => socket.send(reply))) return;
          const timed = ++this.sampled % LATENCY_SAMPLE_EVERY === 0 ? performance.now() : 0;
          const event = this.stream.process(data.toString(), data.length, clientId);
          socket.send(event === undefined ? UNAVAILABLE_ACK : ackFor(event));
          if (timed !== 0) this.metrics.ackLatency.observe((performance.now() - timed) / 1000);
          if (socket.bufferedAmount > clientMaxBufferBytes) pauseWhileBackedUp(socket, clientMaxBufferBytes);
        };
    socket.on('message', onFrame);
    socket.once('close', (code: number) => {
      this.stream.connectionClosed();
      this.logger.info({ client_id: clientId, code }, 'Client %s disconnected (%d)', clientId, code);
    });
    this.logger.info(
      {
        client_id: clientId,
        remote_address: request.socket.remoteAddress,
        user_agent: request.headers['user-agent'],
      },
      'Client %s connected',
      clientId,
    );
  }

  /** Sink mode: the ack waits for the stream append; errors queue behind earlier acks. */
  private toSink(socket: WebSocket, clientId: string, data: Buffer, limiter: RateLimiter | undefined): void {
    const receivedAt = performance.now();
    const reply = (text: string) => this.sink.reply(socket, text, receivedAt);
    if (limiter !== undefined && !this.admit(socket, limiter, reply)) return;
    if (!this.sink.accepting) {
      this.stream.countUnavailable();
      return reply(UNAVAILABLE_ACK);
    }
    const event = this.stream.process(data.toString(), data.length, clientId);
    if (event === undefined) return reply(UNAVAILABLE_ACK);
    this.sink.append(socket, event, receivedAt);
    if (socket.bufferedAmount > this.cfg.clientMaxBufferBytes) {
      pauseWhileBackedUp(socket, this.cfg.clientMaxBufferBytes);
    }
  }

  /** The rate limit: false when the frame is refused (and, past the grace period, the socket closed). */
  private admit(socket: WebSocket, limiter: RateLimiter, reply: (text: string) => void): boolean {
    const verdict = limiter.take(Date.now());
    if (verdict === 'allow') return true;
    this.stream.countRateLimited();
    reply(RATE_LIMITED);
    if (verdict === 'close') socket.close(CLOSE_POLICY_VIOLATION, 'Rate limit exceeded');
    return false;
  }
}
