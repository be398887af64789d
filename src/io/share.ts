/**
 * Record bytes handed between shards by reference (native/share.cc): the memory under a Buffer of one shard's
 * isolate becomes a Buffer of another's, no copy. A cross-shard produce's records (socket memory of the
 * connection's shard) and a cross-shard fetch's cached batches (the owner's) travel this way.
 *
 * Only memory V8's allocator owns may go: an external buffer (a native addon's own memory, such as the log
 * engine's read blocks) is freed by its maker's teardown even while another isolate still uses it. So a view is
 * shared only when its ArrayBuffer was marked here: socket reads (the Kafka connection marks each chunk) and
 * Buffers this shard imported. Anything else is copied, as before.
 */
import { nativeBinding } from './native.js';

export interface ShareBinding {
  shareTag(): number;
  /** An id per view (0: not exported). */
  shareExport(tag: number, views: readonly Uint8Array[]): Uint32Array;
  /** Takes each entry; null for an id that is not (or no longer) there. */
  shareImport(ids: Uint32Array): (Buffer | null)[];
  /** Drops the tag's entries nobody imported; returns how many. */
  shareDrop(tag: number): number;
  shareStats(): { entries: number; bytes: number };
}

const shareable = new WeakSet<ArrayBufferLike>();
/**
 * Off until a link that shares memory exists (enableShareMarks): a shard with no peers (one shard, the default on
 * small machines) never hands memory over, and a WeakSet insert per socket read cost 1.2% of its CPU.
 */
let marking = false;

/** A link that passes memory by reference exists: from now on socket reads and imports are marked. */
export function enableShareMarks(): void {
  marking = true;
}

/** Marks `view`'s memory as V8-allocated (a socket read, an import), so views of it may be shared. */
export function markShareable(view: Uint8Array): void {
  if (marking) shareable.add(view.buffer);
}

/**
 * Any non-empty view of marked memory, however small: a batch read over several socket reads comes as pieces
 * with short ends, and an export and an import (~1 µs) are small beside the call that carries them.
 */
export function isShareable(view: Uint8Array): boolean {
  return view.length > 0 && shareable.has(view.buffer);
}

/** The native side, or null without the addon (or with TERN_NATIVE=0): then everything is copied. */
export function shareBinding(): ShareBinding | null {
  const b = nativeBinding() as (ReturnType<typeof nativeBinding> & Partial<ShareBinding>) | null;
  return b && typeof b.shareExport === 'function' ? (b as unknown as ShareBinding) : null;
}
