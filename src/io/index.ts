/**
 * src/io: the TypeScript face of the storage I/O. Today `NodeFileSystem` (node:fs); the native O_DIRECT
 * appender (native/) will slot in behind the same `FileSystem`/`AppendFile` interfaces. `SimFileSystem` is the
 * deterministic twin for tests: crashes lose unsynced bytes, faults are injected from a seed.
 */
export type { AppendFile, FileSystem } from './file.js';
export { NodeFileSystem } from './node-file.js';
export { SimFileSystem, mulberry32, type SimOptions, type CrashOptions } from './sim.js';
export { nativeBinding, type NativeBinding } from './native.js';
