/**
 * ApiVersions (key 18), v0-4. Lists every API Tern serves with the range it implements. The response header is
 * always v0 (frame.ts); a version above ours is answered by the Connection in v0 with UNSUPPORTED_VERSION
 * (KIP-511), so clients fall back.
 */
import { ApiKey, type ApiVersionsRequest, type ApiVersionsResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../context.js';

export function apiVersionsHandler(served: () => Iterable<ApiHandler>): ApiHandler<ApiVersionsRequest, ApiVersionsResponseIn> {
  return {
    key: ApiKey.ApiVersions,
    minVersion: 0,
    maxVersion: 4,
    handle() {
      const apiKeys = [...served()]
        .sort((a, b) => a.key - b.key)
        .map((h) => ({ apiKey: h.key, minVersion: h.minVersion, maxVersion: h.maxVersion }));
      // v3+ carries the client's software name and version. Kafka rejects names outside its pattern; Tern
      // accepts any (some clients send names such as "@scope/pkg"), they are only informational.
      return { errorCode: ErrorCode.NONE, apiKeys, throttleTimeMs: 0 };
    },
  };
}
