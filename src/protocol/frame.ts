/**
 * Kafka framing and headers: a frame is an INT32 size followed by that many bytes; a request frame starts with
 * a request header, a response frame with a response header.
 *
 * Header versions follow from the API version (KIP-482):
 * - request header v2 (tagged fields) when the request version is flexible, else v1; ClientId is always a
 *   classic INT16 string, even in v2 (RequestHeader.json: flexibleVersions "none" on ClientId);
 * - response header v1 (tagged fields) when flexible, else v0 — except ApiVersions, whose response header is
 *   always v0 so that a client that does not yet know the broker's versions can parse it (KIP-511).
 */
import type { ChunkedBytes } from './chunked-bytes.js';
import { Reader, Writer, ProtocolError } from './codec.js';
import { API_SPECS, ApiKey } from './messages/index.js';
import { readRequestHeader, writeRequestHeader, type RequestHeader } from './messages/RequestHeader.js';
import { writeResponseHeader, readResponseHeader } from './messages/ResponseHeader.js';

export const FRAME_SIZE_BYTES = 4;

export function isFlexible(apiKey: number, version: number): boolean {
  const spec = API_SPECS.get(apiKey);
  return spec !== undefined && version >= spec.flexibleMin;
}

export function requestHeaderVersion(apiKey: number, version: number): number {
  return isFlexible(apiKey, version) ? 2 : 1;
}

export function responseHeaderVersion(apiKey: number, version: number): number {
  if (apiKey === ApiKey.ApiVersions) return 0;
  return isFlexible(apiKey, version) ? 1 : 0;
}

/** The fixed prefix of every request header: enough to route a request and to answer it with an error. */
export interface RequestPrefix {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
}

/**
 * Reads apiKey, apiVersion and correlationId without consuming them (they lead every header version). The frame
 * may be a chunk list (FrameParser.pushChunked).
 */
export function peekRequestPrefix(frame: ChunkedBytes): RequestPrefix {
  if (!Buffer.isBuffer(frame)) {
    const r = new Reader(frame);
    if (r.remaining < 8) throw new ProtocolError(`request of ${r.remaining} bytes is shorter than a header`);
    return { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32() };
  }
  if (frame.length < 8) throw new ProtocolError(`request of ${frame.length} bytes is shorter than a header`);
  return { apiKey: frame.readInt16BE(0), apiVersion: frame.readInt16BE(2), correlationId: frame.readInt32BE(4) };
}

/**
 * Parses a request header for a known API and version. Returns the header and a reader positioned at the body.
 * For an unknown API key the caller must not call this (the header version is unknown). The frame may be a
 * chunk list: the body's records then come back as views of its pieces.
 */
export function readRequest(frame: ChunkedBytes): { header: RequestHeader; body: Reader } {
  const prefix = peekRequestPrefix(frame);
  const r = new Reader(frame);
  const header = readRequestHeader(r, requestHeaderVersion(prefix.apiKey, prefix.apiVersion));
  return { header, body: r };
}

/** Encodes a whole request frame (size prefix included) as chunks ready for the socket. */
export function encodeRequest(apiKey: number, version: number, correlationId: number, clientId: string | null, body: unknown): Buffer[] {
  const spec = API_SPECS.get(apiKey);
  if (!spec) throw new RangeError(`unknown API key ${apiKey}`);
  const w = new Writer(512);
  w.int32(0); // size, patched below
  writeRequestHeader(w, requestHeaderVersion(apiKey, version), { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId });
  spec.writeRequest(w, version, body as never);
  return patchSize(w.finishChunks());
}

/** Encodes a whole response frame (size prefix included) as chunks ready for the socket. */
export function encodeResponse(apiKey: number, version: number, correlationId: number, write: (w: Writer) => void): Buffer[] {
  const w = new Writer(512);
  w.int32(0);
  writeResponseHeader(w, responseHeaderVersion(apiKey, version), { correlationId });
  write(w);
  return patchSize(w.finishChunks());
}

function patchSize(chunks: Buffer[]): Buffer[] {
  let total = 0;
  for (const c of chunks) total += c.length;
  chunks[0]!.writeInt32BE(total - FRAME_SIZE_BYTES, 0);
  return chunks;
}

/** Decodes a response frame body (without the size prefix) for a request sent with `apiKey`/`version`. */
export function decodeResponse(apiKey: number, version: number, frame: Buffer): { correlationId: number; body: unknown } {
  const spec = API_SPECS.get(apiKey);
  if (!spec) throw new RangeError(`unknown API key ${apiKey}`);
  const r = new Reader(frame);
  const header = readResponseHeader(r, responseHeaderVersion(apiKey, version));
  return { correlationId: header.correlationId, body: spec.readResponse(r, version) };
}
