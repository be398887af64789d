/**
 * What a benchmark target is: a server the main thread installs, starts, prepares and stops (TargetServer),
 * and a client that worker threads use to publish and consume (TargetClient). Each target states the
 * durability of an acknowledgement in plain words, printed beside its figures.
 */
import type { Publisher, ConsumerRecorder } from '../producer.js';
import type { PartitionRef, Workload } from '../workload.js';

/** Where a started server listens; plain data, it crosses to worker threads. */
export interface Endpoint {
  host: string;
  port: number;
}

export interface TargetInfo {
  /** Short id used on the command line and in file names: tern, redis-always, ... */
  id: string;
  /** Product and version, as measured at start (`redis-server --version`). */
  label: string;
  /** What an acknowledged publish means for durability, in the report's words. */
  durability: string;
}

export interface TargetServer {
  readonly id: string;
  /** Installs what is missing (apt-get for peers); throws a TargetUnavailable when it cannot. */
  ensureInstalled(): Promise<void>;
  /** Starts a fresh server with its data under `dir` on a free loopback port. */
  start(dir: string): Promise<Endpoint>;
  /** Creates the topics / streams of the workload. */
  prepare(workload: Workload): Promise<void>;
  info(): TargetInfo;
  /** CPU seconds the server process has used since it started (null: unknown). */
  cpuSeconds(): number | null;
  stop(): Promise<void>;
}

export interface Subscriber {
  /** The error that ended consumption early, if any. */
  readonly failure: string | null;
  stop(): Promise<void>;
}

export interface TargetClient {
  publisher(endpoint: Endpoint, workload: Workload, producerIndex: number): Promise<Publisher>;
  /** Starts consuming `assignment` from the beginning, reporting each message to `recorder`. */
  subscriber(endpoint: Endpoint, workload: Workload, assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<Subscriber>;
}

/** A target that cannot run on this machine (package missing, server does not start); the suite skips it and says why. */
export class TargetUnavailable extends Error {
  readonly code = 'ERR_TERN_BENCH_TARGET_UNAVAILABLE';
  constructor(
    readonly target: string,
    why: string,
  ) {
    super(`${target}: ${why}`);
    this.name = 'TargetUnavailable';
  }
}

/** Topic (stream, subject prefix) name of topic index t. */
export function topicName(t: number): string {
  return `bench-t${t}`;
}
