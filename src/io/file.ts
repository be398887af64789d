/**
 * The file I/O face the log is written against. Two implementations: `NodeFileSystem` (node:fs, today's
 * production path) and `SimFileSystem` (in memory, loses unsynced bytes on a simulated crash, injects faults).
 * The native engine (`NativeFileSystem`, O_DIRECT group commit) implements the same interfaces.
 *
 * Durability rule: bytes given to `AppendFile.append` are durable only once a later `sync()` has resolved.
 * A failed write or sync latches the file into an error state: every later operation rejects with that error,
 * because after a failed fsync the page-cache state is unknown and retrying could report lost data as durable.
 */

/** The most zeros the native engine keeps written ahead of a file's end (kZeroAheadBytesMax in native/engine.cc). */
export const engineZeroAheadBytesMax = 16 * 1024 * 1024;

/**
 * The longest run of zeros a file written with O_DIRECT may carry past its logical end after a crash: the native
 * engine's zeros written ahead plus the padding of its last block (at most 4 KiB). Recovery takes such a zero tail
 * for padding, not a torn write.
 */
export const directZeroTailBytesMax = engineZeroAheadBytesMax + 4096;

/**
 * Memory a read may go straight into, asked for by size: a view at least `bytes` long, or null (then the read
 * uses memory of its own). A shard answering another shard's Fetch passes its bulk arena this way (rpc.ts), so
 * a cold read lands where the other shard's socket write takes it from.
 */
export type ReadInto = (bytes: number) => Uint8Array | null;

/** An append-only file with positional reads: one segment or index file of a partition log. */
export interface AppendFile {
  readonly path: string;
  /** Bytes appended so far, including ones still queued for writing. */
  readonly size: number;
  /** Bytes known durable: the `size` as of the start of the last successful `sync()`. */
  readonly syncedSize: number;
  /**
   * Queues `chunks` to be written at the end of the file, in call order, coalesced with other queued appends
   * into few writes. Returns at once; the chunks must not change until a later `sync()` resolves.
   * A write error surfaces on the next `sync()` (and fails every later call).
   */
  append(chunks: readonly Uint8Array[]): void;
  /** Writes everything appended before this call, then fdatasyncs. Never retried after a failure. */
  sync(): Promise<void>;
  /**
   * `sync()` without a promise: calls `done` or `failed` (once, never both, never before this returns) where
   * `sync()` would resolve or reject. For hot paths that pass callbacks bound once (PartitionLog's append):
   * no promise, closures or reaction per call. Optional; SyncScheduler falls back to `sync().then(...)`.
   */
  syncThen?(done: () => void, failed: (err: Error) => void): void;
  /**
   * Reads up to `length` bytes at `position`; shorter at the end of the file. With `into`, an engine that can
   * may read into memory it gets from it (the result is then a view of that memory); others ignore it.
   */
  read(position: number, length: number, into?: ReadInto): Promise<Buffer>;
  /** Cuts the file to `size` bytes. Only valid with nothing queued (recovery, index rebuild). */
  truncate(size: number): Promise<void>;
  /** Closes the handle; queued bytes are written first but not synced. Idempotent. */
  close(): Promise<void>;
}

/** The directory operations the log needs, so the simulated twin can model crashes across files. */
export interface FileSystem {
  /**
   * True when the implementation group-commits by itself (the native engine coalesces the syncs of every file
   * queued meanwhile into one round): callers then sync files directly instead of through JS-side rounds.
   */
  readonly groupCommits?: boolean;
  /** Opens a file for appending and reading, creating it empty when missing. */
  open(path: string): Promise<AppendFile>;
  /**
   * Creates a new empty file and returns at once; the open runs behind the first queued write, so a segment can
   * roll synchronously inside an append. Fails (on the next sync) when the file already exists.
   */
  create(path: string): AppendFile;
  /** The whole file, or null when it does not exist. For small files (checkpoints). */
  readFile(path: string): Promise<Buffer | null>;
  /** Replaces a small file atomically and durably: temporary file, fdatasync, rename, directory fsync. */
  writeFileDurable(path: string, data: Uint8Array): Promise<void>;
  /** Names in `dir` (files and directories), unsorted. */
  list(dir: string): Promise<string[]>;
  /** Creates `dir` and missing parents; durable (parent directory synced). */
  mkdirp(dir: string): Promise<void>;
  /** Renames a file or directory; durable. */
  rename(from: string, to: string): Promise<void>;
  /**
   * Removes a file, or a directory with everything under it; no error when missing. Durable (parent directory
   * synced): a removed clean-shutdown marker must not come back after a crash.
   */
  remove(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  isDirectory(path: string): Promise<boolean>;
}
