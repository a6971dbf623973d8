// WORKERS > 1: one scrape of /metrics on the shared port answers for the whole cluster. The worker
// that takes the request asks the primary over IPC; the primary's prom-client AggregatorRegistry
// collects every worker's registry, sums each series across workers, and sends the text back.
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'cbsa:metrics-req';
const RESPONSE = 'cbsa:metrics-res';
/** AggregatorRegistry gives up on a silent worker after 5 s; the asking worker waits a little longer. */
const TIMEOUT_MS = 6000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsResponse {
  type: typeof RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

const isMessage = <T extends { type: string }>(message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

/** In the primary: answers workers' requests with the cluster's metrics. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) return;
    const reply = (response: Omit<MetricsResponse, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: RESPONSE, id: message.id, ...response });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: Error) => reply({ error: err.message }),
    );
  });
}

/** In a worker: hands `registry` to the primary's aggregator, and asks the primary for the total. */
export class WorkerMetrics {
  private nextId = 0;
  private readonly pending = new Map<number, (response: MetricsResponse) => void>();

  constructor(registry: Registry) {
    AggregatorRegistry.setRegistries([registry]);
    // Constructing one in a worker installs prom-client's listener for the primary's requests.
    new AggregatorRegistry();
    process.on('message', (message: unknown) => {
      if (isMessage<MetricsResponse>(message, RESPONSE)) this.pending.get(message.id)?.(message);
    });
  }

  clusterMetrics(): Promise<string> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle({ type: RESPONSE, id, error: 'timed out' }), TIMEOUT_MS);
      const settle = (response: MetricsResponse) => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (response.text !== undefined) resolve(response.text);
        else reject(new Error(`cluster metrics: ${response.error ?? 'no answer'}`));
      };
      this.pending.set(id, settle);
      const request: MetricsRequest = { type: REQUEST, id };
      process.send!(request);
    });
  }
}
