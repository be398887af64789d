/**
 * src/io: the TypeScript face of the storage I/O, three implementations of one `FileSystem`/`AppendFile` face:
 * `NativeFileSystem` (native/engine.cc: O_DIRECT, group commit off the JS thread, zero-copy reads; the default),
 * `NodeFileSystem` (node:fs; the fallback where the addon is not built), and `SimFileSystem`, the deterministic
 * twin for tests: crashes lose unsynced bytes, faults (torn writes, EIO, ENOSPC, latency) come from a seed.
 */
export { directZeroTailBytesMax, type AppendFile, type FileSystem, type ReadInto } from './file.js';
export { NodeFileSystem } from './node-file.js';
export { SimFileSystem, mulberry32, type SimOptions, type CrashOptions } from './sim.js';
export { nativeBinding, type NativeBinding } from './native.js';
export {
  NativeFileSystem,
  NativeEngine,
  NativeAppendFile,
  nativeEngineAvailable,
  directForLogSegments,
  errnoError,
  engineFlushDelayUsMax,
  engineFlushBytesMaxLimit,
  engineIoThreadsMax,
  engineIoThreadsDefault,
  engineReadAheadBudgetBytesDefault,
  engineZeroAheadBytesDefault,
  engineZeroAheadBytesMax,
  histogramDiff,
  histogramPercentile,
  histogramCount,
  histogramMean,
  type EngineHistograms,
  type EngineOptions,
  type EngineStats,
  type NativeFileSystemOptions,
} from './native-file.js';
export { createFileSystem, isOutOfSpace, type LogEngine, type CreateFileSystemOptions } from './create.js';
export { JOURNAL_DIR, journalPath, replayJournals, journalBytesDefault, journalFilesMinDefault, type ReplayReport } from './journal.js';
