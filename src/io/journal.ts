/**
 * The native engine's journal (native/engine.cc, "Journal"): where it lives, and its replay after a crash.
 *
 * A round that syncs many files writes their new bytes into one journal entry and fdatasyncs only the journal;
 * the files are fdatasynced later by a checkpoint, which then moves the journal's tail past those entries. So
 * after a crash (or a power loss) a file may lack bytes that were acknowledged: they are in the journal, in the
 * entries from its tail on. `replayJournals` writes them back into their files and fdatasyncs those, before any
 * log opens a file, then moves each journal's tail past everything it replayed (to the start of the next lap, so
 * no entry left on disk can be taken for a new one).
 *
 * Layout (little-endian). Block 0 (4 KiB): the header twice, at 0 and at 512, each
 * `[u32 magic "TJH1", u32 crc32c of the next 24 bytes, u64 vtail, u64 ring, u64 0]`; the valid copy with the
 * larger vtail wins (a torn block write leaves at least one whole). Entries follow at 4 KiB boundaries: an entry
 * at virtual position `vpos` lies at `4096 + vpos % ring`, and never crosses the end of the ring (the writer then
 * goes on at the next lap). Entry: `[u32 magic "TJE1", u32 crc32c of bytes 8..len, u64 vpos, u32 len, u32
 * records, u64 0, u64 0]`, then per record `[u32 nameLength, u32 dataLength, u64 fileOffset, name, data]`;
 * names are relative to the data dir (absolute when the file is elsewhere).
 *
 * Replay reads entries from the tail while each one is whole (magic, CRC, its own vpos): the first entry that is
 * not ends it (an entry torn by the crash was never acknowledged). Files that no longer exist are skipped: a file
 * is removed or renamed only after a checkpoint has finished with its entries. One exception: a failed journal
 * keeps the entries of files whose own fdatasync failed, and when such a file is deleted the engine names it in
 * `<journal>.skip` (one name per line, as in the records) instead: its records are skipped, so a file made later
 * under that name is never written over. The list goes once the replay is durable (and the engine drops any left
 * when it opens the journal).
 */
import { closeSync, fdatasyncSync, fstatSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { crc32c } from '../protocol/crc32c.js';
import type { FileSystem } from './file.js';

export const JOURNAL_DIR = '.journal';
const HEADER_BYTES = 4096;
const HEADER_MAGIC = 0x31484a54;
const ENTRY_MAGIC = 0x31454a54;
const ENTRY_HEADER_BYTES = 40;
const RECORD_HEADER_BYTES = 16;
/** The largest entry the engine writes (kJournalEntryBytesMax). */
const ENTRY_BYTES_MAX = 1024 * 1024;
/** The largest journal the engine makes (kJournalBytesMax): a bigger file is not one of its journals. */
const JOURNAL_BYTES_MAX = 1024 * 1024 * 1024;
/**
 * Default journal size per engine. With 1,000 partitions at 20,000 appends/s of 1 KiB the entries take ~25 MB/s:
 * half of 64 MiB lasts ~1.3 s, so checkpoints come from the interval, not the ring (round 15: with a 32 MiB ring
 * and 0.5 s, the more frequent checkpoints doubled p99).
 */
export const journalBytesDefault = 64 * 1024 * 1024;
/** Files a replay keeps open at once: beyond it they are synced and closed (a later record reopens its file). */
const REPLAY_OPEN_FILES_MAX = 256;
/** Default: a round journals its syncs when at least this many files ask to sync. */
export const journalFilesMinDefault = 4;
/** Default: a dirty journal is checkpointed at least this often (and whenever half its ring is used). */
export const journalCheckpointIntervalMsDefault = 1000;

/** The journal of one engine (`name`: "broker", "shard-0", ...) under `dataDir`. */
export function journalPath(dataDir: string, name: string): string {
  return path.join(path.resolve(dataDir), JOURNAL_DIR, `${name}.jnl`);
}

export interface ReplayReport {
  journals: number;
  entries: number;
  records: number;
  bytes: number;
  /** Files written back into (fdatasynced; one reopened after the open-file bound counts again). */
  files: number;
  /** Records for files that no longer exist. */
  missing: number;
  /** Records for files on the journal's skip list (deleted after their own sync failed). */
  skipped: number;
}

/** One journal's replay: also, per file written back, the lowest offset written. */
export interface JournalReplay extends Omit<ReplayReport, 'journals'> {
  starts: Map<string, number>;
}

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Replays every journal under `<dataDir>/.journal` (creating the directory, durably, when missing). Throws when a
 * journal's header is unreadable: starting without it could lose acknowledged records. With `keep` (the engine
 * names this start will use), a journal of another name is removed once replayed: a shard that no longer exists
 * (a smaller `--smp`) leaves no ring behind.
 */
export async function replayJournals(fs: FileSystem, dataDir: string, logger?: Logger, keep?: readonly string[]): Promise<ReplayReport> {
  const root = path.resolve(dataDir);
  const dir = path.join(root, JOURNAL_DIR);
  await fs.mkdirp(dir);
  const total: ReplayReport = { journals: 0, entries: 0, records: 0, bytes: 0, files: 0, missing: 0, skipped: 0 };
  for (const name of (await fs.list(dir)).sort()) {
    if (!name.endsWith('.jnl')) continue;
    const r = replayJournal(path.join(dir, name), root);
    total.journals++;
    total.entries += r.entries;
    total.records += r.records;
    total.bytes += r.bytes;
    total.files += r.files;
    total.missing += r.missing;
    total.skipped += r.skipped;
    // warn: a replay means the engine did not shut down cleanly
    if (r.entries > 0) logger?.warn({ journal: name, entries: r.entries, records: r.records, bytes: r.bytes, files: r.files }, 'journal replayed: acknowledged bytes written back into their files');
    if (r.missing > 0) logger?.warn({ journal: name, missing: r.missing }, 'journal records for files that no longer exist were skipped');
    if (r.skipped > 0) logger?.warn({ journal: name, skipped: r.skipped }, 'journal records of files deleted after their sync failed were skipped');
    if (keep !== undefined && !keep.includes(name.slice(0, -'.jnl'.length))) {
      await fs.remove(path.join(dir, name));
      await fs.remove(path.join(dir, `${name}.skip`));
    }
  }
  return total;
}

function readHeader(block: Buffer, at: number): { vtail: number; ring: number } | null {
  if (block.readUInt32LE(at) !== HEADER_MAGIC) return null;
  if (block.readUInt32LE(at + 4) !== crc32c(block.subarray(at + 8, at + 32))) return null;
  return { vtail: Number(block.readBigUInt64LE(at + 8)), ring: Number(block.readBigUInt64LE(at + 16)) };
}

/** Replays one journal file; see the top of this file. */
export function replayJournal(file: string, root: string): JournalReplay {
  const report: JournalReplay = { entries: 0, records: 0, bytes: 0, files: 0, missing: 0, skipped: 0, starts: new Map() };
  const skipFile = `${file}.skip`;
  const skip = readSkipList(skipFile);
  const fd = openSync(file, 'r+');
  const touched = new Map<string, number>();
  try {
    const size = fstatSync(fd).size;
    if (size < HEADER_BYTES * 2 || size > JOURNAL_BYTES_MAX) throw new Error(`journal ${file}: size ${size} is not a journal's`);
    const block = Buffer.alloc(HEADER_BYTES);
    readFully(fd, block, 0);
    const a = readHeader(block, 0);
    const b = readHeader(block, 512);
    const h = a === null ? b : b === null ? a : b.vtail > a.vtail ? b : a;
    if (h === null) throw new Error(`journal ${file}: no valid header (both copies torn or overwritten): refusing to start without it`);
    if (h.ring <= 0 || h.ring % HEADER_BYTES !== 0 || h.ring + HEADER_BYTES !== size) throw new Error(`journal ${file}: header ring ${h.ring} does not match its size ${size}`);
    const ring = h.ring;
    const entry = Buffer.alloc(ENTRY_BYTES_MAX);
    let vpos = h.vtail;
    for (;;) {
      let len = readEntry(fd, entry, vpos, ring);
      if (len === 0 && vpos % ring !== 0) {
        vpos += ring - (vpos % ring); // the writer went on at the next lap
        len = readEntry(fd, entry, vpos, ring);
      }
      if (len === 0) break;
      const records = entry.readUInt32LE(20);
      let at = ENTRY_HEADER_BYTES;
      for (let r = 0; r < records; r++) {
        const nameLength = entry.readUInt32LE(at);
        const dataLength = entry.readUInt32LE(at + 4);
        const offset = Number(entry.readBigUInt64LE(at + 8));
        at += RECORD_HEADER_BYTES;
        const name = entry.toString('utf8', at, at + nameLength);
        at += nameLength;
        const data = entry.subarray(at, at + dataLength);
        at += dataLength;
        if (skip.has(name)) {
          report.skipped++;
          continue;
        }
        const target = path.isAbsolute(name) ? name : path.join(root, name);
        let tfd = touched.get(target);
        if (tfd === undefined) {
          if (touched.size >= REPLAY_OPEN_FILES_MAX) syncAndClose(touched, report);
          try {
            tfd = openSync(target, 'r+');
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
              report.missing++;
              continue;
            }
            throw err;
          }
          touched.set(target, tfd);
        }
        writeFully(tfd, data, offset);
        if (!(offset >= (report.starts.get(target) ?? Infinity))) report.starts.set(target, offset);
        report.records++;
        report.bytes += dataLength;
      }
      report.entries++;
      vpos += align(len, HEADER_BYTES);
    }
    syncAndClose(touched, report);
    // Past everything on disk: the next lap's start after the last entry replayed (a torn entry after it holds
    // that entry's end as its vpos, below the new tail).
    const vtail = (Math.floor(vpos / ring) + 1) * ring;
    const out = Buffer.alloc(HEADER_BYTES);
    for (const at of [0, 512]) {
      out.writeUInt32LE(HEADER_MAGIC, at);
      out.writeBigUInt64LE(BigInt(vtail), at + 8);
      out.writeBigUInt64LE(BigInt(ring), at + 16);
      out.writeUInt32LE(crc32c(out.subarray(at + 8, at + 32)), at + 4);
    }
    writeFully(fd, out, 0);
    fdatasyncSync(fd);
    // The entries it named are behind the tail now: the list must not outlive them.
    if (skip.size > 0) unlinkSync(skipFile);
  } finally {
    for (const tfd of touched.values()) closeSync(tfd);
    closeSync(fd);
  }
  return report;
}

/** Largest skip list read: one line per deleted partition file whose sync failed, so far below this. */
const SKIP_LIST_BYTES_MAX = 16 * 1024 * 1024;

/** The names on a journal's skip list (empty when there is none). */
function readSkipList(file: string): Set<string> {
  let text: string;
  try {
    if (statSync(file).size > SKIP_LIST_BYTES_MAX) throw new Error(`journal skip list ${file} is larger than ${SKIP_LIST_BYTES_MAX} bytes`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw err;
  }
  return new Set(text.split('\n').filter((l) => l !== ''));
}

/** The whole entry at `vpos` into `buf`: its length, or 0 when there is no whole entry there. */
function readEntry(fd: number, buf: Buffer, vpos: number, ring: number): number {
  const lap = vpos % ring;
  const room = Math.min(ENTRY_BYTES_MAX, ring - lap);
  const pos = HEADER_BYTES + lap;
  if (readSync(fd, buf, 0, ENTRY_HEADER_BYTES, pos) !== ENTRY_HEADER_BYTES) return 0;
  if (buf.readUInt32LE(0) !== ENTRY_MAGIC || Number(buf.readBigUInt64LE(8)) !== vpos) return 0;
  const len = buf.readUInt32LE(16);
  if (len < ENTRY_HEADER_BYTES || len > room) return 0;
  if (readSync(fd, buf, ENTRY_HEADER_BYTES, len - ENTRY_HEADER_BYTES, pos + ENTRY_HEADER_BYTES) !== len - ENTRY_HEADER_BYTES) return 0;
  if (buf.readUInt32LE(4) !== crc32c(buf.subarray(8, len))) return 0;
  // Records must lie within the entry (a whole entry is the engine's, but check before trusting lengths).
  const records = buf.readUInt32LE(20);
  let at = ENTRY_HEADER_BYTES;
  for (let r = 0; r < records; r++) {
    if (at + RECORD_HEADER_BYTES > len) return 0;
    at += RECORD_HEADER_BYTES + buf.readUInt32LE(at) + buf.readUInt32LE(at + 4);
    if (at > len) return 0;
  }
  return len;
}

/** Syncs and closes every file written back so far, counting them in `report.files`. */
function syncAndClose(touched: Map<string, number>, report: JournalReplay): void {
  for (const [target, tfd] of touched) {
    fdatasyncSync(tfd);
    closeSync(tfd);
    touched.delete(target);
    report.files++;
  }
}

function readFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error('journal: short read');
    done += n;
  }
}

function writeFully(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
