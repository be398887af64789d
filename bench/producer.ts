/**
 * The producer side of the load generator, independent of the target: generates messages (open loop at a
 * rate, or closed loop at max), accumulates them into per-partition batches (batchBytes, lingerMs), sends
 * requests through a target's Publisher with up to `inFlightMax` pipelined, and records publish latency
 * (stamp -> acknowledgement) and acknowledged messages per second.
 *
 * Time comes in as arguments (`tick(nowUs)`, the `clock` for acknowledgements): the loop owns no timer, so
 * tests drive it with a fake clock and a fake publisher, and the worker drives it with real ones.
 *
 * Stamps: in open loop a message's stamp is its intended send time (see rate.ts: no coordinated omission);
 * in closed loop it is the time the message was generated, which is when its request could go out.
 */
import { LatencyHistogram } from './histogram.js';
import { KeyChooser } from './payload.js';
import { inWindow, OpenLoopSchedule, SecondSeries, type MeasureWindow } from './rate.js';
import type { KeyDistribution } from './workload.js';

/** Record overhead beyond key and value in a Kafka v2 batch, roughly (varints and attributes). */
export const RECORD_OVERHEAD_BYTES = 10;
/** Largest request a producer builds (Kafka's max.request.size default). */
export const REQUEST_BYTES_MAX = 1024 * 1024;
/** Messages generated and not yet acknowledged, in open loop, before the run is failed (a broker that stalls for good). */
export const BACKLOG_MESSAGES_MAX = 20_000_000;

export interface OutBatch {
  topic: number;
  partition: number;
  keys: (Buffer | null)[];
  /** One stamp per message, µs. */
  stampsUs: number[];
  bytes: number;
}

export interface PublishRequest {
  batches: OutBatch[];
  messages: number;
  bytes: number;
}

/** A target's producer connection. `publish` resolves once the target acknowledged the request (per its durability setting). */
export interface Publisher {
  publish(req: PublishRequest): Promise<void>;
  close(): Promise<void>;
}

export interface ProducerLoopOptions {
  topic: number;
  /** The topic's partitions (keys map onto all of them). */
  partitions: readonly number[];
  messageBytes: number;
  batchBytes: number;
  lingerUs: number;
  inFlightMax: number;
  requestBytesMax?: number;
  keys: KeyDistribution;
  keyCount: number;
  seed: number;
  /** null: closed loop (max). */
  ratePerSec: number | null;
  startUs: number;
  phaseUs?: number;
  /** No message is generated at or after this time. */
  endUs: number;
  window: MeasureWindow;
}

/** Messages of one partition waiting to be sent, oldest first. */
interface PartitionQueue {
  keys: (Buffer | null)[];
  stampsUs: number[];
  /** Index of the oldest unsent message (arrays are compacted when it passes half). */
  head: number;
  bytes: number;
}

/**
 * Batching as librdkafka does it: messages queue per partition; a batch is cut from a partition's queue when
 * a request is built, up to batchBytes. A partition is ready to send when its queue holds batchBytes, or its
 * oldest message has waited lingerUs, or generation ended (closed loop: always). While every in-flight slot
 * is taken, queues keep growing, so the next batches are bigger: this is how a real producer absorbs a slow
 * broker, and why an open-loop backlog shows up as latency, not as a lower rate.
 */
export class ProducerLoop {
  readonly publishLatency = new LatencyHistogram();
  readonly ackedSeries: SecondSeries;
  /** Messages acknowledged whose stamps are in the measured window, and their value bytes. */
  ackedInWindow = 0;
  ackedBytesInWindow = 0;
  ackedTotal = 0;
  generated = 0;
  failedMessages = 0;
  firstError: string | null = null;
  inFlight = 0;

  private readonly schedule: OpenLoopSchedule | null;
  private readonly chooser: KeyChooser;
  /** Non-empty partition queues, in the order they are served (a served partition moves to the back). */
  private readonly queues = new Map<number, PartitionQueue>();
  private queuedBytes = 0;
  private backlog = 0;
  private readonly recordBytes: number;
  private readonly requestBytesMax: number;

  constructor(
    private readonly opts: ProducerLoopOptions,
    private readonly publisher: Publisher,
    private readonly clock: () => number,
    /** Called when an acknowledgement frees a slot, so the driver can tick at once. */
    private readonly wake: () => void = () => undefined,
  ) {
    this.schedule = opts.ratePerSec === null ? null : new OpenLoopSchedule(opts.ratePerSec, opts.startUs, opts.phaseUs ?? 0, opts.endUs);
    this.chooser = new KeyChooser(opts.keys, opts.partitions, opts.keyCount, opts.seed);
    this.recordBytes = opts.messageBytes + RECORD_OVERHEAD_BYTES + (opts.keys === 'none' ? 0 : 10);
    this.requestBytesMax = opts.requestBytesMax ?? REQUEST_BYTES_MAX;
    this.ackedSeries = new SecondSeries(opts.startUs);
  }

  /** True once generation ended and every message was acknowledged or failed. */
  get finished(): boolean {
    return this.generationEnded(this.clock()) && this.queues.size === 0 && this.inFlight === 0;
  }

  /** Messages generated and not acknowledged (queued, or in flight). */
  get backlogMessages(): number {
    return this.backlog;
  }

  /** Does all the work that is due at `nowUs`: generate, then send what is ready while slots are free. */
  tick(nowUs: number): void {
    const ended = this.generationEnded(nowUs);
    if (this.schedule !== null) {
      const due = this.schedule.dueCount(nowUs);
      while (this.generated < due) this.add(this.schedule.intendedUs(this.generated));
      if (this.backlog > BACKLOG_MESSAGES_MAX) throw new Error(`producer backlog over ${BACKLOG_MESSAGES_MAX} messages: the target is not keeping up at all`);
      this.send(nowUs, ended);
    } else {
      // Closed loop: while a slot is free, generate one request's worth and send it.
      // One request's worth: a full batch for every partition, within requestBytesMax, in whole records.
      const perBatch = Math.max(1, Math.floor(this.opts.batchBytes / this.recordBytes));
      const target = Math.max(1, Math.min(Math.floor(this.requestBytesMax / this.recordBytes), this.opts.partitions.length * perBatch)) * this.recordBytes;
      while (this.inFlight < this.opts.inFlightMax && !ended) {
        while (this.queuedBytes < target) this.add(nowUs);
        this.send(nowUs, true);
      }
      if (ended) this.send(nowUs, true);
    }
  }

  private generationEnded(nowUs: number): boolean {
    return nowUs >= this.opts.endUs;
  }

  private add(stampUs: number): void {
    const { key, partition } = this.chooser.choose();
    let q = this.queues.get(partition);
    if (q === undefined) {
      q = { keys: [], stampsUs: [], head: 0, bytes: 0 };
      this.queues.set(partition, q);
    }
    q.keys.push(key);
    q.stampsUs.push(stampUs);
    q.bytes += this.recordBytes;
    this.queuedBytes += this.recordBytes;
    this.generated++;
    this.backlog++;
    // Keyless messages stick to a partition until it holds a full batch (Kafka's sticky partitioner).
    if (this.full(q) && q.bytes <= this.opts.batchBytes) this.chooser.batchClosed();
  }

  /** A full batch waits: one more record would not fit in batchBytes. */
  private full(q: PartitionQueue): boolean {
    return q.bytes + this.recordBytes > this.opts.batchBytes;
  }

  private ready(q: PartitionQueue, nowUs: number, flushAll: boolean): boolean {
    return flushAll || this.full(q) || q.stampsUs[q.head]! + this.opts.lingerUs <= nowUs;
  }

  /** Builds and sends requests while slots are free: at most one batch (<= batchBytes) per partition each. */
  private send(nowUs: number, flushAll: boolean): void {
    while (this.inFlight < this.opts.inFlightMax && this.queues.size > 0) {
      const batches: OutBatch[] = [];
      let bytes = 0;
      let messages = 0;
      const served: number[] = [];
      for (const [partition, q] of this.queues) {
        if (bytes >= this.requestBytesMax) break;
        if (!this.ready(q, nowUs, flushAll)) continue;
        const n = Math.max(1, Math.min(q.stampsUs.length - q.head, Math.floor(Math.min(this.opts.batchBytes, this.requestBytesMax - bytes) / this.recordBytes)));
        const batch: OutBatch = { topic: this.opts.topic, partition, keys: q.keys.slice(q.head, q.head + n), stampsUs: q.stampsUs.slice(q.head, q.head + n), bytes: n * this.recordBytes };
        q.head += n;
        q.bytes -= batch.bytes;
        this.queuedBytes -= batch.bytes;
        if (q.head > 1024 && q.head * 2 > q.stampsUs.length) {
          q.keys.splice(0, q.head);
          q.stampsUs.splice(0, q.head);
          q.head = 0;
        }
        served.push(partition);
        batches.push(batch);
        bytes += batch.bytes;
        messages += n;
      }
      if (batches.length === 0) return;
      for (const p of served) {
        const q = this.queues.get(p)!;
        this.queues.delete(p);
        if (q.head < q.stampsUs.length) this.queues.set(p, q); // still has messages: to the back of the line
      }
      this.inFlight++;
      const req: PublishRequest = { batches, messages, bytes };
      let p: Promise<void>;
      try {
        p = this.publisher.publish(req);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        () => this.acknowledged(req, this.clock()),
        (err: unknown) => this.failed(req, err),
      );
    }
  }

  private acknowledged(req: PublishRequest, ackUs: number): void {
    this.inFlight--;
    this.backlog -= req.messages;
    this.ackedTotal += req.messages;
    this.ackedSeries.add(ackUs, req.messages);
    const w = this.opts.window;
    for (const b of req.batches) {
      const s = b.stampsUs;
      // Runs of equal stamps (a closed-loop batch) are recorded with one call.
      for (let i = 0; i < s.length; ) {
        let j = i + 1;
        while (j < s.length && s[j] === s[i]) j++;
        if (inWindow(w, s[i]!)) {
          this.publishLatency.record(ackUs - s[i]!, j - i);
          this.ackedInWindow += j - i;
          this.ackedBytesInWindow += (j - i) * this.opts.messageBytes;
        }
        i = j;
      }
    }
    this.wake();
  }

  private failed(req: PublishRequest, err: unknown): void {
    this.inFlight--;
    this.backlog -= req.messages;
    this.failedMessages += req.messages;
    this.firstError ??= err instanceof Error ? err.message : String(err);
    this.wake();
  }
}

/** The consumer side's bookkeeping: end-to-end latency (stamp -> receipt) and messages received per second. */
export class ConsumerRecorder {
  readonly e2eLatency = new LatencyHistogram();
  receivedSeries = new SecondSeries(0);
  receivedTotal = 0;
  receivedInWindow = 0;
  receivedBytesInWindow = 0;
  private window: MeasureWindow = { fromUs: Infinity, toUs: Infinity };

  /** Sets the run's start and measured window (subscribers connect before the run starts). */
  begin(startUs: number, window: MeasureWindow): void {
    this.receivedSeries = new SecondSeries(startUs);
    this.window = window;
  }

  /** One message received at `nowUs` (the caller reads the clock once per response, not per message). */
  received(stampUs: number, nowUs: number, valueBytes: number): void {
    this.receivedTotal++;
    if (inWindow(this.window, stampUs)) {
      this.e2eLatency.record(nowUs - stampUs);
      this.receivedInWindow++;
      this.receivedBytesInWindow += valueBytes;
    }
  }

  /** After a response's messages: count them in the per-second series. */
  receivedBatch(count: number, nowUs: number): void {
    this.receivedSeries.add(nowUs, count);
  }
}
