/**
 * A scriptable in-process Kafka endpoint for Connection tests: decodes each request with the generated codecs
 * and lets the test decide the answer (a body, raw bytes, silence, or a closed socket). ApiVersions is answered
 * by default with every range the client implements. Not a broker: it stores nothing.
 */
import net from 'node:net';
import { API_SPECS, ApiKey } from '../../src/protocol/messages/index.js';
import { encodeResponse, peekRequestPrefix, readRequest } from '../../src/protocol/frame.js';
import { CLIENT_API_VERSIONS } from '../../src/client/index.js';

export interface FakeRequest {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  body: unknown;
}

export type FakeReply =
  | { body: object } // encoded for the request's API and version
  | { raw: Buffer } // written as is (must include the size prefix)
  | 'ignore' // never answer
  | 'close'; // destroy the socket

export interface FakeBrokerOptions {
  /** Write responses in chunks of this many bytes (to exercise split frames). */
  chunkBytes?: number;
}

export interface FakeBroker {
  port: number;
  requests: FakeRequest[];
  /** Answers a request later (one the handler ignored), on the most recent connection. */
  reply(req: FakeRequest, body: object): void;
  close(): Promise<void>;
}

export function encodeReply(req: Pick<FakeRequest, 'apiKey' | 'apiVersion' | 'correlationId'>, body: object): Buffer {
  const spec = API_SPECS.get(req.apiKey)!;
  return Buffer.concat(encodeResponse(req.apiKey, req.apiVersion, req.correlationId, (w) => spec.writeResponse(w, req.apiVersion, body as never)));
}

export function defaultApiVersions(): object {
  return { errorCode: 0, apiKeys: [...CLIENT_API_VERSIONS].map(([apiKey, r]) => ({ apiKey, minVersion: r.min, maxVersion: r.max })) };
}

export async function fakeBroker(handle: (req: FakeRequest) => FakeReply | undefined, opts: FakeBrokerOptions = {}): Promise<FakeBroker> {
  const requests: FakeRequest[] = [];
  const sockets = new Set<net.Socket>();
  let last: net.Socket | null = null;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    last = sock;
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(4, 4 + buf.readInt32BE(0));
        buf = buf.subarray(4 + frame.length);
        const prefix = peekRequestPrefix(frame);
        const spec = API_SPECS.get(prefix.apiKey)!;
        const { header, body } = readRequest(frame);
        const req: FakeRequest = { ...prefix, clientId: header.clientId, body: spec.readRequest(body, prefix.apiVersion) };
        requests.push(req);
        const reply = handle(req) ?? (prefix.apiKey === ApiKey.ApiVersions ? { body: defaultApiVersions() } : 'ignore');
        if (reply === 'ignore') continue;
        if (reply === 'close') {
          sock.destroy();
          return;
        }
        const bytes = 'raw' in reply ? reply.raw : encodeReply(prefix, reply.body);
        const step = opts.chunkBytes ?? bytes.length;
        for (let i = 0; i < bytes.length; i += step) sock.write(bytes.subarray(i, i + step));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    requests,
    reply: (req, body) => {
      if (last === null) throw new Error('no connection to reply on');
      last.write(encodeReply(req, body));
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
