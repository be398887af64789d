/**
 * The Kafka listener: accepts TCP connections and hands each to a Connection. Single-threaded for now; the
 * shard runtime (src/shard) will run one listener per shard on SO_REUSEPORT.
 */
import net from 'node:net';
import type { ApiHandler, BrokerServices } from './context.js';
import { Connection, type PartialFrameBudget } from './connection.js';

export class KafkaServer {
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  private readonly partialFrames: PartialFrameBudget = { bytes: 0 };

  constructor(
    private readonly broker: BrokerServices,
    private readonly handlers: ReadonlyMap<number, ApiHandler>,
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.broker.config.connectionsMax) {
      this.broker.logger.warn({ remote: socket.remoteAddress, connectionsMax: this.broker.config.connectionsMax }, 'connection limit reached, closing new connection');
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextId++, socket, this.broker, this.handlers, (c) => this.connections.delete(c), this.partialFrames);
    this.connections.add(conn);
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 1024 }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** The listening socket's server, for listeners made elsewhere (a shard's SO_REUSEPORT socket). */
  get netServer(): net.Server {
    return this.server;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, lets connections answer what they have read (up to `graceMs`), then closes them. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.drain();
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of [...this.connections]) c.close('shutdown');
    await closed;
  }
}
