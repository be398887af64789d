import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { listenReusePort, reusePortAvailable } from '../../src/shard/listener.js';

const distListener = path.resolve('dist/src/shard/listener.js');

describe.skipIf(!reusePortAvailable())('SO_REUSEPORT shard listeners', () => {
  it('two servers share one port; the kernel spreads connections over both threads', async () => {
    const first = net.createServer();
    const port = await listenReusePort(first, '127.0.0.1', 0);
    expect(port).toBeGreaterThan(0);
    let mainAccepted = 0;
    first.on('connection', (s) => {
      mainAccepted++;
      s.end();
    });
    // A second shard in another thread binds the same port through its own socket.
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const net = require('node:net');
       import(${JSON.stringify(distListener)}).then(async ({ listenReusePort }) => {
         let n = 0;
         const server = net.createServer((s) => { n++; s.end(); });
         await listenReusePort(server, '127.0.0.1', workerData.port);
         parentPort.postMessage('listening');
         parentPort.on('message', () => { parentPort.postMessage(n); server.close(); parentPort.close(); });
       });`,
      { eval: true, workerData: { port } },
    );
    try {
      await new Promise((r) => worker.once('message', r));
      const clients = 40;
      for (let i = 0; i < clients; i++) {
        await new Promise<void>((resolve, reject) => {
          const c = net.connect(port, '127.0.0.1');
          c.on('error', reject);
          c.on('close', () => resolve());
          c.resume();
        });
      }
      worker.postMessage('count');
      const workerAccepted = (await new Promise((r) => worker.once('message', r))) as number;
      expect(mainAccepted + workerAccepted).toBe(clients);
      // Each connection lands on a shard by a hash of its 4-tuple: all 40 on one side has odds of 2^-39.
      expect(mainAccepted).toBeGreaterThan(0);
      expect(workerAccepted).toBeGreaterThan(0);
    } finally {
      first.close();
      await worker.terminate();
    }
  });

  it('a numeric host is required and bind errors surface as errors', async () => {
    await expect(listenReusePort(net.createServer(), 'localhost', 0)).rejects.toThrow(/numeric/);
    const s = net.createServer();
    const port = await listenReusePort(s, '127.0.0.1', 0);
    // A plain (non-reuseport) listener holds another port; binding that port with SO_REUSEPORT fails.
    const plain = net.createServer();
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const taken = (plain.address() as net.AddressInfo).port;
    await expect(listenReusePort(net.createServer(), '127.0.0.1', taken)).rejects.toThrow(/EADDRINUSE|in use/i);
    s.close();
    plain.close();
    expect(port).toBeGreaterThan(0);
  });
});
