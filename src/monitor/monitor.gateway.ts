// WS /ws/monitor: accepts a monitor (MonitorFanout sends hello, the replay, batches and stats),
// closes one that sends more than monitors may, and logs when it leaves.
import type { IncomingMessage } from 'node:http';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { PinoLogger } from 'nestjs-pino';
import type { RawData, WebSocket } from 'ws';
import { CLOSE_POLICY_VIOLATION, DEFAULT_MONITOR_PATH } from '../protocol/index.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { InboundLimit } from './inbound-limit.js';
import { MonitorFanout } from './monitor-fanout.service.js';
import { parseMonitorParams } from './monitor-params.js';

const byteLength = (data: RawData): number =>
  Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;

@WebSocketGateway<GatewayOptions>({ path: DEFAULT_MONITOR_PATH, endpoint: 'monitorEndpoint' })
export class MonitorGateway implements OnGatewayConnection<WebSocket> {
  constructor(
    private readonly fanout: MonitorFanout,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(MonitorGateway.name);
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const id = newClientId();
    // Checked on the upgrade already (invalid ones got 400): this parse always succeeds.
    const parsed = parseMonitorParams(request.url);
    const params = parsed.ok ? parsed.params : {};
    const limit = new InboundLimit();
    socket.on('message', (data: RawData) => {
      const problem = limit.check(byteLength(data), Date.now());
      if (problem === undefined) return;
      this.logger.info({ monitor_id: id }, 'Monitor %s closed: %s', id, problem);
      socket.close(CLOSE_POLICY_VIOLATION, problem);
    });
    socket.once('close', () => this.logger.info({ monitor_id: id }, 'Monitor %s disconnected', id));
    this.fanout.add(socket, id, params);
    this.logger.info({ monitor_id: id }, 'Monitor %s connected', id);
  }
}
