// WS /ws/monitor: accepts a monitor (hello frame, then hands it to MonitorFanout) and logs when it
// leaves. Batching, the bus, stats and the slow-monitor policy live in MonitorFanout.
import { Inject } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { DEFAULT_MONITOR_PATH, FLOW_MAP_PATH, encodeHello } from '../protocol/index.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { MonitorFanout } from './monitor-fanout.service.js';

@WebSocketGateway<GatewayOptions>({ path: DEFAULT_MONITOR_PATH, endpoint: 'monitorEndpoint' })
export class MonitorGateway implements OnGatewayConnection<WebSocket> {
  constructor(
    private readonly fanout: MonitorFanout,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(MonitorGateway.name);
  }

  handleConnection(socket: WebSocket): void {
    const id = newClientId();
    this.fanout.add(socket, id);
    socket.once('close', () => this.logger.info({ monitor_id: id }, 'Monitor %s disconnected', id));
    socket.send(
      encodeHello({ app: { name: this.cfg.appName, version: this.cfg.version }, flow_map: FLOW_MAP_PATH }),
    );
    this.logger.info({ monitor_id: id }, 'Monitor %s connected', id);
  }
}
