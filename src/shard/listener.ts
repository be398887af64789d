/**
 * SO_REUSEPORT listeners for shards: each shard thread binds the Kafka port itself (native/net.cc makes the
 * socket) and Node adopts the descriptor, so the kernel spreads incoming connections over the shards and no byte
 * of the data path passes through another thread.
 */
import net from 'node:net';
import { nativeBinding } from '../io/native.js';

interface NetBinding {
  listenReusePort(host: string, port: number, backlog: number): [number, number];
}

export const listenBacklogDefault = 1024;

/** True when the addon that makes SO_REUSEPORT sockets is built. */
export function reusePortAvailable(): boolean {
  return typeof (nativeBinding() as unknown as Partial<NetBinding> | null)?.listenReusePort === 'function';
}

/**
 * Starts `server` listening on host:port through its own SO_REUSEPORT socket (port 0: a free port; pass the
 * returned port to the other shards). `host` must be a numeric address.
 */
export async function listenReusePort(server: net.Server, host: string, port: number, backlog = listenBacklogDefault): Promise<number> {
  const binding = nativeBinding() as unknown as Partial<NetBinding> | null;
  if (typeof binding?.listenReusePort !== 'function') throw new Error('SO_REUSEPORT listeners need the native addon (npm install builds it)');
  const [fd, bound] = binding.listenReusePort(host, port, backlog);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return bound;
}
