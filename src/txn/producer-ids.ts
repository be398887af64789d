/**
 * Producer ids: unique, never reused, even across crashes and across shards.
 *
 * Ids are handed out in blocks of PRODUCER_ID_BLOCK_SIZE (Kafka's 1000). `ProducerIdBlocks` owns the file
 * `<dataDir>/producer-ids` and the next unallocated id: before a block is returned, the file is rewritten to say
 * the block is taken (temp file, fdatasync, rename, directory fsync: FileSystem.writeFileDurable), so after a
 * crash the next block starts past every id that may have been handed out; the ids of a block not used up
 * before a crash are skipped, never reused. One process owns the file: the single-process broker, or on the
 * sharded broker the main thread (src/shard/supervisor.ts), which hands blocks to shards over the control
 * channel (op `producerIdBlock`).
 *
 * `BlockProducerIdSource` is the ProducerIdSource a coordinator uses: it hands out the ids of its current block
 * and asks for the next block (one request at a time) when it is used up.
 *
 * File format (JSON, small): {"version":1,"nextProducerId":<n>}, n a multiple of the block size. A missing file
 * means no id was ever handed out; an unreadable one stops the broker (ids could be reused otherwise).
 */
import type { FileSystem } from '../io/index.js';
import type { ProducerIdSource } from './types.js';

export const PRODUCER_ID_BLOCK_SIZE = 1000;
/** Ids stay below 2^53 (the codecs' int64 is a `number`): the last block ends at this bound. */
export const PRODUCER_ID_LIMIT = Number.MAX_SAFE_INTEGER - PRODUCER_ID_BLOCK_SIZE;
export const PRODUCER_IDS_FILE = 'producer-ids';
const FILE_VERSION = 1;

export interface ProducerIdBlock {
  /** First id of the block. */
  start: number;
  /** Ids in the block. */
  count: number;
}

/** Operating errors of producer id allocation (stable codes). */
export class ProducerIdError extends Error {
  constructor(
    readonly code: 'ERR_TERN_PRODUCER_IDS_FILE' | 'ERR_TERN_PRODUCER_IDS_EXHAUSTED',
    message: string,
  ) {
    super(message);
  }
}

type BlockFs = Pick<FileSystem, 'readFile' | 'writeFileDurable'>;

/** The durable block allocator (one owner per data dir). */
export class ProducerIdBlocks {
  #next: number;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly fs: BlockFs,
    private readonly file: string,
    next: number,
  ) {
    this.#next = next;
  }

  static async open(fs: BlockFs, dataDir: string): Promise<ProducerIdBlocks> {
    const file = `${dataDir}/${PRODUCER_IDS_FILE}`;
    const bytes = await fs.readFile(file);
    let next = 0;
    if (bytes !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        throw new ProducerIdError('ERR_TERN_PRODUCER_IDS_FILE', `${file} is not valid JSON: ${(err as Error).message}`);
      }
      const p = parsed as { version?: unknown; nextProducerId?: unknown };
      if (p?.version !== FILE_VERSION || !Number.isSafeInteger(p.nextProducerId) || (p.nextProducerId as number) < 0) {
        throw new ProducerIdError('ERR_TERN_PRODUCER_IDS_FILE', `${file}: expected {"version":${FILE_VERSION},"nextProducerId":<n>}, got ${bytes.toString('utf8').slice(0, 200)}`);
      }
      next = p.nextProducerId as number;
    }
    return new ProducerIdBlocks(fs, file, next);
  }

  /** The first id no block has covered yet. */
  get nextProducerId(): number {
    return this.#next;
  }

  /** Reserves the next block; resolves once the reservation is durable. Calls are served one at a time. */
  allocate(): Promise<ProducerIdBlock> {
    const run = async (): Promise<ProducerIdBlock> => {
      const start = this.#next;
      if (start > PRODUCER_ID_LIMIT) throw new ProducerIdError('ERR_TERN_PRODUCER_IDS_EXHAUSTED', 'producer ids are exhausted');
      const next = start + PRODUCER_ID_BLOCK_SIZE;
      await this.fs.writeFileDurable(this.file, Buffer.from(JSON.stringify({ version: FILE_VERSION, nextProducerId: next })));
      this.#next = next;
      return { start, count: PRODUCER_ID_BLOCK_SIZE };
    };
    const p = this.#chain.then(run, run);
    this.#chain = p.catch(() => undefined);
    return p;
  }
}

/** Ids from blocks fetched on demand (from ProducerIdBlocks, locally or over the shard control channel). */
export class BlockProducerIdSource implements ProducerIdSource {
  #next = 0;
  #end = 0;
  #fetching: Promise<void> | null = null;

  constructor(private readonly fetchBlock: () => Promise<ProducerIdBlock>) {}

  async allocate(): Promise<number> {
    // Bounded: every round either returns or waits for a block with at least one id.
    for (;;) {
      if (this.#next < this.#end) return this.#next++;
      this.#fetching ??= this.fetchBlock()
        .then((b) => {
          if (!Number.isSafeInteger(b.start) || !Number.isSafeInteger(b.count) || b.count <= 0) throw new Error(`bad producer id block ${JSON.stringify(b)}`);
          this.#next = b.start;
          this.#end = b.start + b.count;
        })
        .finally(() => {
          this.#fetching = null;
        });
      await this.#fetching;
    }
  }
}
