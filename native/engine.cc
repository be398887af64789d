// tern::Engine — the native log engine behind src/io/native-file.ts.
//
// Files are opened with O_DIRECT where the file system allows it (buffered I/O + fdatasync otherwise). Appends
// are queued from the JS thread as pointers into the caller's buffers (the caller keeps them alive until the
// bytes are reported written); two runner threads run group-commit rounds:
//
//   1. wait for work; then up to flushDelayUs more while fewer than flushBytesMax bytes are queued;
//   2. take every dirty file's queue and requests (truncate, sync, close) as one round;
//   3. write stage: one job per file, in parallel on up to ioThreads threads: copy the queued bytes behind the
//      file's partly filled tail block into an aligned staging buffer, pwrite it at the aligned position (the
//      tail block is rewritten, its padding is zeros past the logical end);
//   3b. sync stage, rounds in order: one fdatasync per file asked to sync (in parallel), then 4. Two runner
//      threads take rounds in turn, so the next round's writes overlap this round's fdatasyncs (see RunnerLoop);
//      A job larger than one staging buffer is double-buffered: a pool thread copies the next staging-sized
//      pieces into a ring of buffers while the job's thread writes the previous ones back to back (one
//      partition's large batches are not held to memcpy-then-write);
//   4. post the round's results to JS in one callback (many appends complete per callback).
//
// Zero-ahead (zeroAheadBytes, 0: off): a direct file is kept written with zeros a little past its end, so the
// appends of a low-rate file are overwrites of blocks already allocated and written. On ext4 such a direct write
// needs no journal handle and its fdatasync no journal commit: the sync is one device cache flush, like fio's
// fdatasync job, which overwrites a laid-out file (4 KiB write + fdatasync, p50 200 -> 130 µs, p99 300 -> 210 µs on
// the dev VM). A round's data write plans the next zeros once less than half a step is left ahead: steps of
// 64 KiB, doubling up to zeroAheadBytes while a file uses half a step within 200 ms (a slow file stays at 64 KiB:
// 1,000 idle partitions hold 64 MiB of zeros, not 1 GiB), only in light rounds (<= kZeroAheadRoundDataMax of data;
// at most one full step, zeroAheadBytes, of zeros per round, all files together). A pool thread writes them once
// the round is posted, beside the next rounds (whose writes wait only if they reach into the zeros), so no append
// waits for a zero write; the file's next sync carries them (one journal commit per step). In the throughput
// regime (heavy rounds, whose journal commit is shared by many appends) files just extend as before: zeros never
// take bandwidth from a loaded disk. The zeros past the logical end are cut off on close; after a crash recovery
// takes a zero tail for padding (src/log/segment.ts).
//
// Reads: native preads into aligned blocks handed to JS as zero-copy views. A direct file (nothing of it in the
// page cache) gets its own read-ahead: a read that continues the previous one makes the prefetch thread read the
// next readAheadBytes in 2 MiB blocks, and later reads those blocks hold are copied out of them (a native memcpy,
// like the page cache's, into a buffer of the read's own: JS never pins a block).
//
// Timing: stats() carries log-bucketed histograms (µs) of queue wait (first request queued -> its round starts),
// round duration, per-file write and fdatasync time, completion hand-off (posted -> JS callback runs) and of
// files per round and results per callback, so each latency target can be explained by where time went.
//
// A file's write-side state (written, tail) is touched only in the write stage, its sync-side state (synced) only
// in the sync stage, one round at a time each. Any failed syscall
// latches the file into an error state (no retry: after a failed write or fsync the file's contents are
// unknown); JS decides what that means for the partition. Writes and syncs go through libc's pwrite/pwritev/
// fdatasync so an LD_PRELOAD fault shim (../shared/fault-kit/failsync.c) can reach them.
//
// Journal (openJournal; optional): with 1,000 partitions a round carries tens of files, and one fdatasync per file
// costs a syscall, a thread wake-up and a device cache flush each, on CPUs the broker needs. When a round has at
// least journalFilesMin files to sync, each durable up to this round's data, their bytes (the same bytes just
// written to the files) go into one journal entry: one write and one fdatasync of the journal, beside the
// fdatasyncs of the round's other files. Those files are then durable through the entry and are reported synced.
// A checkpoint fdatasyncs them later, in the background (every checkpointIntervalMs, or once half the ring is
// used), and then moves the journal's tail past their entries. The journal is a ring of entries at 4 KiB
// boundaries, each with its virtual position and a CRC-32C; after a crash src/io/journal.ts replays the entries
// from the tail (rewrites their bytes into the files, fdatasyncs them) before any log opens. A truncate or close
// of a file with live entries, and a rename or remove JS is about to do under such a file (checkpoint()), first
// run a full checkpoint, so no entry is ever replayed over different contents. A failed journal write or
// checkpoint turns the journal off (the round's files sync themselves) and retires it (RetireJournal): every file
// with live entries syncs itself, and the journal is unlinked, so no later truncate or recreate can meet an old
// entry. A file that failed for want of space still syncs at a checkpoint. A file whose own fdatasync fails keeps
// its entries (its acknowledged bytes are durable only there; its error is latched, its partition takes no more
// writes), and so the journal stays for the next start to replay; if such a file is then deleted (JS renames or
// removes it: journalTouches), its name goes on the journal's skip list (`<journal>.skip`), so the replay never
// writes its old bytes into a file made later under that name.
//
// Policy (what to sync, when a file is done with, how errors are surfaced) lives in TypeScript.
#include "engine.h"

#include "crc32c.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tern {
namespace {

constexpr size_t kMemAlign = 4096;                // staging and read buffers; covers every dio_mem_align seen
constexpr uint32_t kAlignMax = 4096;              // larger offset alignment: use buffered I/O instead
constexpr size_t kStagingBytes = 1 << 20;         // per thread; a multiple of every supported alignment
constexpr size_t kOwnedChunkBytesMax = 256;       // smaller chunks are copied at append (may live on V8's heap)
constexpr int kIovMax = 1024;
constexpr int kResultFields = 5;                  // id, written, synced, errno, flags
constexpr size_t kReadBlockBytes = 2 << 20;       // read-ahead unit: blocks at multiples of this file position
constexpr size_t kReadAheadBytesDefault = 8 << 20; // per direct file being read sequentially
constexpr size_t kReadAheadBytesMax = 64 << 20;
constexpr size_t kReadPoolIdleBytesMax = 32 << 20; // read buffers kept for reuse once JS lets go of them
constexpr uint64_t kSequentialSlackBytes = 64 << 10; // a read this close past the last one's end continues it
constexpr uint64_t kZeroAheadFirstBytes = 64 << 10;   // a file's first zero-ahead step (then doubling)
constexpr uint64_t kZeroAheadBytesDefault = 1 << 20;
constexpr uint64_t kZeroAheadBytesMax = 16 << 20;     // with the block size, what recovery accepts as padding
constexpr uint64_t kZeroAheadGrowNs = 200'000'000;    // a step half used up faster than this doubles the next
constexpr uint64_t kZeroAheadRoundDataMax = 256 << 10; // rounds carrying more data write no zeros ahead
// Journal (see "Journal" above Engine): block 0 holds two copies of the header (a torn 4 KiB write leaves one
// whole: sectors are 512 B); entries follow, each at a 4 KiB boundary, never across the end of the ring.
constexpr uint64_t kJournalHeaderBytes = 4096;
constexpr uint32_t kJournalHeaderMagic = 0x31484a54;  // "TJH1"
constexpr uint32_t kJournalEntryMagic = 0x31454a54;   // "TJE1"
constexpr size_t kJournalEntryHeaderBytes = 40;
constexpr size_t kJournalRecordHeaderBytes = 16;
constexpr size_t kJournalEntryBytesMax = 1 << 20;     // one round's entry; a round with more data syncs its files
constexpr uint64_t kJournalBytesMin = 4 << 20;
constexpr uint64_t kJournalBytesMax = 1ull << 30;
constexpr size_t kCheckpointThreads = 4;                  // threads fdatasyncing a checkpoint's files

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// A histogram with log-spaced buckets: exact below 16, then 8 buckets per power of two (<= 12.5% wide), updated
// from any thread without locks. Exported as [counts..., count, sum]; percentiles are computed in TypeScript
// (src/io/native-file.ts histogramPercentile) from the difference of two snapshots.
class Histogram {
 public:
  static constexpr int kBuckets = 16 + 8 * 44;  // up to 2^48 µs
  void Record(uint64_t v, uint64_t times = 1) {
    buckets_[Index(v)].fetch_add(times, std::memory_order_relaxed);
    count_.fetch_add(times, std::memory_order_relaxed);
    sum_.fetch_add(v * times, std::memory_order_relaxed);
  }
  Napi::Float64Array ToJs(Napi::Env env) const {
    auto a = Napi::Float64Array::New(env, kBuckets + 2);
    double* d = a.Data();
    for (int i = 0; i < kBuckets; i++) d[i] = static_cast<double>(buckets_[i].load(std::memory_order_relaxed));
    d[kBuckets] = static_cast<double>(count_.load(std::memory_order_relaxed));
    d[kBuckets + 1] = static_cast<double>(sum_.load(std::memory_order_relaxed));
    return a;
  }
  static int Index(uint64_t v) {
    if (v < 16) return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v);
    int i = 16 + (e - 4) * 8 + static_cast<int>((v >> (e - 3)) & 7);
    return std::min(i, kBuckets - 1);
  }

 private:
  std::atomic<uint64_t> buckets_[kBuckets] = {};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
};

uint64_t MicrosSince(uint64_t startNs) {
  uint64_t now = NowNs();
  return now > startNs ? (now - startNs) / 1000 : 0;
}

enum ResultFlags : uint32_t { kSynced = 1, kClosed = 2, kTruncated = 4, kCheckpointed = 8, kJournalFailed = 16 };

struct Chunk {
  const uint8_t* data;
  size_t size;
  std::shared_ptr<std::vector<uint8_t>> owned;  // set when the bytes were copied at append
};

void* AlignedAlloc(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, kMemAlign, bytes == 0 ? kMemAlign : bytes) != 0) return nullptr;
  return p;
}

// Recycles the aligned buffers of reads (each read's own buffer and each read-ahead block) by size class. A
// consumer streaming a log asks for about the same size again and again; without recycling every read would be a
// fresh mmap whose pages fault in one by one (about one minor fault per 4 KiB read) and an munmap when JS lets go
// of the view. Classes are 64 KiB x 2^k and 96 KiB x 2^k up to 64 MiB (at most 1.5x the size asked for); larger
// reads are allocated and freed as they come. At most `idleMax` bytes are kept idle; the rest is freed. Shared
// with every Buffer it lent (their finalizers give buffers back), so it outlives the engine when they do.
class BufferPool {
 public:
  static constexpr int kClasses = 21;
  explicit BufferPool(size_t idleMax) : idleMax_(idleMax) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool() {
    for (auto& list : free_)
      for (auto* p : list) std::free(p);
  }

  static size_t ClassBytes(int c) { return (c % 2 == 0 ? size_t{64} << 10 : size_t{96} << 10) << (c / 2); }

  // A buffer of at least `bytes`; `*capacity` gets its size, to pass back to Give. Null when out of memory.
  uint8_t* Take(size_t bytes, size_t* capacity) {
    int c = ClassOf(bytes);
    if (c < 0) {
      *capacity = bytes;
      return static_cast<uint8_t*>(AlignedAlloc(bytes));
    }
    *capacity = ClassBytes(c);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_[c].empty()) {
        uint8_t* p = free_[c].back();
        free_[c].pop_back();
        idle_ -= *capacity;
        reused_++;
        return p;
      }
    }
    allocated_++;
    return static_cast<uint8_t*>(AlignedAlloc(*capacity));
  }

  void Give(uint8_t* p, size_t capacity) {
    if (p == nullptr) return;
    int c = ClassOf(capacity);
    if (c >= 0 && ClassBytes(c) == capacity) {
      std::lock_guard<std::mutex> lock(mu_);
      if (idle_ + capacity <= idleMax_) {
        free_[c].push_back(p);
        idle_ += capacity;
        return;
      }
    }
    std::free(p);
  }

  uint64_t Reused() const { return reused_.load(); }
  uint64_t Allocated() const { return allocated_.load(); }

 private:
  static int ClassOf(size_t bytes) {
    for (int c = 0; c < kClasses; c++)
      if (ClassBytes(c) >= bytes) return c;
    return -1;
  }

  const size_t idleMax_;
  std::mutex mu_;
  size_t idle_ = 0;  // guarded by mu_
  std::vector<uint8_t*> free_[kClasses];
  std::atomic<uint64_t> reused_{0};
  std::atomic<uint64_t> allocated_{0};
};

// An aligned block read ahead for one direct file: [start, start + valid) are the file's bytes. Shared by the
// file (until replaced) and by the reads copying out of it.
struct ReadBlock {
  uint64_t start = 0;
  uint64_t limit = 0;  // the file's written size the block was asked with: valid <= limit - start
  uint8_t* mem = nullptr;  // kReadBlockBytes (a class size) taken from `pool` by the prefetch thread
  std::shared_ptr<BufferPool> pool;
  std::shared_ptr<std::atomic<int64_t>> budget;  // the engine's read-ahead bytes left; this block's given back
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;  // guarded by mu; valid and error are set before it
  size_t valid = 0;
  int error = 0;
  ~ReadBlock() {
    if (pool) pool->Give(mem, kReadBlockBytes);
    if (budget) budget->fetch_add(static_cast<int64_t>(kReadBlockBytes));
  }
};

struct File {
  uint32_t id = 0;
  int fd = -1;
  bool direct = false;
  uint32_t align = 1;
  bool created = false;
  std::string path;

  // Guarded by Engine::mu_.
  std::vector<Chunk> queue;
  uint64_t queuedBytes = 0;
  bool wantSync = false;
  bool wantClose = false;
  int64_t truncateTo = -1;
  bool dirty = false;
  uint64_t queuedNs = 0;  // when this file's oldest request not yet taken by a round was queued

  // Write side: touched only by this file's job in the write stage (one round writes at a time); `synced`,
  // `dirSynced` only in the sync stage (one round syncs at a time, in order).
  uint64_t written = 0;   // logical bytes handed to the kernel
  uint64_t synced = 0;    // logical bytes known durable
  std::vector<uint8_t> tail;  // direct: bytes [written - written % align, written)
  bool tailLoaded = false;
  bool dirSynced = false;
  uint64_t zeroStep = 0;    // the next zero-ahead step (0: none yet)
  uint64_t lastZeroNs = 0;  // when the last zero-ahead write was planned
  // Zero-ahead writes run after their round is posted, beside the next rounds' writes (see ZeroAheadWrite): the
  // file's size and the planned zero write are shared with that writer. A data write reaching past zeroFrom (the
  // start of a planned or running zero write; UINT64_MAX: none) takes zeroMu, so it never overlaps the zeros; one
  // that ends before it (the usual case: zeros are planned with half a step still ahead) goes on without waiting.
  std::atomic<uint64_t> diskSize{0};  // the file's size as this engine left it: >= written (padding, zeros ahead)
  std::mutex zeroMu;
  std::atomic<uint64_t> zeroFrom{UINT64_MAX};
  uint64_t zeroTo = 0;               // guarded by zeroMu: the planned zero write's end (0: none)
  std::atomic<bool> zeroOff{false};  // a zero-ahead write failed (a full disk): this file extends as it writes
  // Latched by the write stage or the sync stage (they run concurrently); once set, neither touches the file again.
  std::atomic<int> error{0};
  std::atomic<bool> syncFailed{false};  // error came from an fdatasync (never retried), not from a write

  // Read side (direct files), guarded by raMu: the current read-ahead block and the last read, to tell a
  // sequential reader. raGen changes on truncate: a block read before it is never installed after it.
  std::mutex raMu;
  std::vector<std::shared_ptr<ReadBlock>> blocks;  // by start, each kReadBlockBytes at a multiple of it
  uint64_t lastReadStart = 0;
  uint64_t lastReadEnd = UINT64_MAX;

  // Journal bookkeeping, guarded by Engine::jmu_: the file has bytes made durable by journal entries that no
  // checkpoint has synced yet (it is in jDirty_), and how many running checkpoints will fdatasync it.
  bool jDirty = false;
  int ckptRefs = 0;
  std::string jname;  // the path recorded in journal entries: relative to the journal's root when under it
  uint64_t raGen = 0;

  ~File() {
    if (fd >= 0) ::close(fd);
  }
};

struct Job {
  std::shared_ptr<File> file;
  std::vector<Chunk> chunks;
  uint64_t bytes = 0;  // the chunks' total size
  int64_t truncateTo = -1;
  bool sync = false;
  bool close = false;
  uint64_t writtenAfter = 0;  // the file's logical size once this job's writes are done
  uint64_t queuedNs = 0;
  bool zeroAhead = false;  // a zero-ahead write was planned: it runs once the round is posted (ZeroAheadWrite)
};



struct Result {
  uint32_t id;
  uint64_t written;
  uint64_t synced;
  int error;
  uint32_t flags;
};

uint64_t AlignDown(uint64_t v, uint64_t a) { return v - v % a; }
uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// pwrite until done; 0 or an errno. A short write that leaves the rest off `align` (a direct file's alignment; 1
// for buffered) is an I/O error.
int PwriteAll(int fd, const uint8_t* p, size_t n, uint64_t pos, uint64_t align) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    if (static_cast<uint64_t>(w) % align != 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
    pos += static_cast<uint64_t>(w);
  }
  return 0;
}

int PwriteAll(const File& f, const uint8_t* p, size_t n, uint64_t pos) {
  return PwriteAll(f.fd, p, n, pos, f.direct ? f.align : 1);
}

// pread until `n` bytes or end of file; returns bytes read or -errno.
int64_t PreadAll(int fd, uint8_t* p, size_t n, uint64_t pos) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<int64_t>(done);
}

uint32_t DirectAlignment(int fd) {
#ifdef STATX_DIOALIGN
  struct statx stx;
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) != 0 &&
      stx.stx_dio_offset_align != 0) {
    return std::max(stx.stx_dio_offset_align, stx.stx_dio_mem_align);
  }
#endif
  return 4096;  // the largest logical block size in practice; always a valid O_DIRECT alignment
}

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {
                           InstanceMethod("open", &Engine::Open),
                           InstanceMethod("append", &Engine::Append),
                           InstanceMethod("sync", &Engine::Sync),
                           InstanceMethod("truncate", &Engine::Truncate),
                           InstanceMethod("close", &Engine::Close),
                           InstanceMethod("read", &Engine::Read),
                           InstanceMethod("kick", &Engine::Kick),
                           InstanceMethod("ref", &Engine::RefLoop),
                           InstanceMethod("unref", &Engine::UnrefLoop),
                           InstanceMethod("stats", &Engine::Stats),
                           InstanceMethod("shutdown", &Engine::Shutdown),
                           InstanceMethod("openJournal", &Engine::OpenJournal),
                           InstanceMethod("journalTouches", &Engine::JournalTouches),
                           InstanceMethod("checkpoint", &Engine::RequestCheckpoint),
                       });
  }

  // new Engine({ flushDelayUs, flushBytesMax, ioThreads, zeroAheadBytes, directIo: 'auto'|'off'|'refuse-for-test' }, onComplete)
  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "Engine(options, onComplete)").ThrowAsJavaScriptException();
      return;
    }
    auto opts = info[0].As<Napi::Object>();
    auto num = [&](const char* k, double d) {
      auto v = opts.Get(k);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : d;
    };
    flushDelayUs_ = static_cast<int64_t>(num("flushDelayUs", 0));
    flushBytesMax_ = static_cast<uint64_t>(num("flushBytesMax", 8 << 20));
    int ioThreads = static_cast<int>(num("ioThreads", 16));
    readAheadBytes_ = AlignUp(static_cast<uint64_t>(num("readAheadBytes", kReadAheadBytesDefault)), kReadBlockBytes);
    readAheadBytes_ = std::min<uint64_t>(readAheadBytes_, kReadAheadBytesMax);
    readAheadBudget_->store(static_cast<int64_t>(num("readAheadBudgetBytes", 64 << 20)));
    zeroAheadBytes_ = std::min<uint64_t>(static_cast<uint64_t>(num("zeroAheadBytes", kZeroAheadBytesDefault)), kZeroAheadBytesMax);
    auto mode = opts.Get("directIo");
    std::string m = mode.IsString() ? mode.As<Napi::String>().Utf8Value() : "auto";
    directOff_ = m == "off";
    refuseDirect_ = m == "refuse-for-test";

    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tern-engine", 0, 1);
    tsfn_.Unref(env);
    for (auto& st : runnerStaging_) st = static_cast<uint8_t*>(AlignedAlloc(kStagingBytes));
    zeros_ = static_cast<uint8_t*>(AlignedAlloc(kStagingBytes));
    std::memset(zeros_, 0, kStagingBytes);
    for (int i = 0; i < std::max(0, ioThreads - 1); i++) {
      pool_.emplace_back([this] { PoolLoop(); });
    }
    runnerCount_ = opts.Get("pipelineRounds").ToBoolean() ? kRunners : 1;
    for (int r = 0; r < runnerCount_; r++) runners_[r] = std::thread([this, r] { RunnerLoop(runnerStaging_[r]); });
    prefetcher_ = std::thread([this] { PrefetchLoop(); });
    env_ = env;
    napi_add_env_cleanup_hook(env, &Engine::OnEnvCleanup, this);
  }

  ~Engine() override {
    // A collected engine must not leave its hook behind: it would run on freed memory at exit.
    if (!envCleanedUp_) napi_remove_env_cleanup_hook(env_, &Engine::OnEnvCleanup, this);
    Stop();
    for (auto* st : runnerStaging_) std::free(st);
    std::free(zeros_);
    std::free(journalBuf_);
    std::free(journalHeaderBuf_);
    if (journalFd_ >= 0) ::close(journalFd_);
    for (auto* b : ringFree_) std::free(b);
  }

  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<Engine*>(arg);
    self->envCleanedUp_ = true;
    self->Stop();
  }

 private:
  // ---- JS thread --------------------------------------------------------------------------------------------

  // open(path, create, exclusive, direct) -> [id, size, direct, align, errno, directRefused]
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>().Utf8Value();
    bool create = info[1].ToBoolean();
    bool exclusive = info[2].ToBoolean();
    bool wantDirect = info[3].ToBoolean() && !directOff_;
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0) | (exclusive ? O_EXCL : 0);
    auto out = Napi::Array::New(env, 6);
    int fd = -1;
    bool direct = false;
    bool refused = false;
    if (wantDirect) {
      if (refuseDirect_) {
        errno = EINVAL;
      } else {
        fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
      }
      if (fd >= 0) {
        direct = true;
      } else if (errno == EINVAL) {
        refused = true;
      } else {
        return Fail(out, errno);
      }
    }
    if (fd < 0) fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Fail(out, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return Fail(out, e);
    }
    auto f = std::make_shared<File>();
    f->fd = fd;
    f->path = path;
    f->created = create;  // its directory entry is synced with its first fdatasync
    f->written = f->synced = f->diskSize = static_cast<uint64_t>(st.st_size);
    if (direct) {
      uint32_t a = DirectAlignment(fd);
      if (a > kAlignMax || (a & (a - 1)) != 0) {
        // An alignment our staging cannot honour: reopen buffered.
        ::close(fd);
        fd = ::open(path.c_str(), flags & ~(O_CREAT | O_EXCL), 0644);
        if (fd < 0) return Fail(out, errno);
        f->fd = fd;
        direct = false;
        refused = true;
      } else {
        f->align = a;
      }
    }
    f->direct = direct;
    f->jname = path;
    if (!journalRoot_.empty() && path.size() > journalRoot_.size() + 1 && path.compare(0, journalRoot_.size(), journalRoot_) == 0 &&
        path[journalRoot_.size()] == '/') {
      f->jname = path.substr(journalRoot_.size() + 1);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      f->id = nextId_++;
      files_[f->id] = f;
    }
    out.Set(0u, Napi::Number::New(env, f->id));
    out.Set(1u, Napi::Number::New(env, static_cast<double>(st.st_size)));
    out.Set(2u, Napi::Boolean::New(env, direct));
    out.Set(3u, Napi::Number::New(env, f->align));
    out.Set(4u, Napi::Number::New(env, 0));
    out.Set(5u, Napi::Boolean::New(env, refused));
    return out;
  }

  Napi::Value Fail(Napi::Array out, int err) {
    Napi::Env env = out.Env();
    for (uint32_t i = 0; i < 4; i++) out.Set(i, Napi::Number::New(env, 0));
    out.Set(4u, Napi::Number::New(env, err));
    out.Set(5u, Napi::Boolean::New(env, false));
    return out;
  }

  std::shared_ptr<File> Find(const Napi::CallbackInfo& info) {
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    auto it = files_.find(id);
    if (it == files_.end()) {
      Napi::Error::New(info.Env(), "engine: unknown or closed file").ThrowAsJavaScriptException();
      return nullptr;
    }
    return it->second;
  }

  void MarkDirty(const std::shared_ptr<File>& f) {
    if (!f->dirty) {
      uint64_t now = NowNs();
      if (dirty_.empty()) firstQueuedNs_ = now;  // the queue wait of the round that takes it starts here
      f->queuedNs = now;
      f->dirty = true;
      dirty_.push_back(f);
    }
  }

  // kick(): starts a round for everything queued. Requests only queue; JS kicks once per turn of its event loop,
  // so the appends and syncs of one turn (a produce request over many partitions) share a round.
  Napi::Value Kick(const Napi::CallbackInfo& info) {
    // One runner suffices: the other is busy or, if idle, not needed. With a flush delay a runner waiting out the
    // delay must hear it, so both.
    if (flushDelayUs_ > 0) cv_.notify_all();
    else cv_.notify_one();
    return info.Env().Undefined();
  }

  // append(id, chunks: Uint8Array[]): the caller keeps every chunk unchanged until reported written.
  Napi::Value Append(const Napi::CallbackInfo& info) {
    auto arr = info[1].As<Napi::Array>();
    uint32_t n = arr.Length();
    std::vector<Chunk> chunks;
    chunks.reserve(n);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
      auto v = arr.Get(i).As<Napi::Uint8Array>();
      size_t len = v.ByteLength();
      if (len == 0) continue;
      const uint8_t* p = v.Data();
      if (len <= kOwnedChunkBytesMax) {
        auto own = std::make_shared<std::vector<uint8_t>>(p, p + len);
        chunks.push_back(Chunk{own->data(), len, own});
      } else {
        chunks.push_back(Chunk{p, len, nullptr});
      }
      bytes += len;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto f = Find(info);
    if (!f) return info.Env().Undefined();
    for (auto& c : chunks) f->queue.push_back(std::move(c));
    f->queuedBytes += bytes;
    queuedBytes_ += bytes;
    MarkDirty(f);
    return info.Env().Undefined();
  }

  Napi::Value Sync(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    auto f = Find(info);
    if (!f) return info.Env().Undefined();
    f->wantSync = true;
    MarkDirty(f);
    return info.Env().Undefined();
  }

  Napi::Value Truncate(const Napi::CallbackInfo& info) {
    int64_t size = info[1].As<Napi::Number>().Int64Value();
    std::lock_guard<std::mutex> lock(mu_);
    auto f = Find(info);
    if (!f) return info.Env().Undefined();
    f->truncateTo = size;
    {
      // Read-ahead blocks may hold bytes past the cut that new appends will replace.
      std::lock_guard<std::mutex> raLock(f->raMu);
      f->blocks.clear();
      f->raGen++;
      f->lastReadEnd = UINT64_MAX;
    }
    MarkDirty(f);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    auto f = Find(info);
    if (!f) return info.Env().Undefined();
    f->wantClose = true;
    files_.erase(f->id);  // no more requests; the runner still holds it for this last round
    MarkDirty(f);
    return info.Env().Undefined();
  }

  class ReadWorker : public Napi::AsyncWorker {
   public:
    ReadWorker(Napi::Env env, Engine* engine, std::shared_ptr<File> f, uint64_t pos, size_t len, uint64_t limit)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), engine_(engine),
          engineRef_(Napi::Persistent(engine->Value())), f_(std::move(f)), pos_(pos), len_(len), limit_(limit) {}
    // Reads into `dest` (memory of the caller's, e.g. a shard's bulk arena) instead of a buffer of the pool; the
    // reference keeps it alive until the read is done.
    void Into(Napi::Uint8Array dest) {
      destRef_ = Napi::Persistent(dest);
      dest_ = dest.Data();
      destLen_ = dest.ByteLength();
    }
    ~ReadWorker() override { engine_->readPool_->Give(buf_, cap_); }
    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
      if (dest_ != nullptr && destLen_ < len_) {
        err_ = EINVAL;
        return;
      }
      if (f_->direct && engine_->readAheadBytes_ > 0 && len_ > 0) {
        bool served = false;
        bool sequential = engine_->FromReadAhead(*f_, pos_, len_, dest_, buf_, cap_, served);
        if (served) {
          avail_ = len_;
          if (sequential) engine_->ScheduleReadAhead(f_, pos_ + len_, limit_);
          return;
        }
        ReadDisk();
        if (sequential && err_ == 0) engine_->ScheduleReadAhead(f_, pos_ + len_, limit_);
        return;
      }
      ReadDisk();
    }

    void ReadDisk() {
      uint64_t start = pos_;
      size_t span = len_;
      if (f_->direct) {
        start = AlignDown(pos_, f_->align);
        span = static_cast<size_t>(AlignUp(pos_ + len_, f_->align) - start);
      }
      // Into `dest` straight from the kernel when an aligned stretch of it holds the whole span (a direct read
      // needs its memory aligned too); otherwise through a pool buffer, then copied into `dest`.
      uint8_t* into = nullptr;
      if (dest_ != nullptr) {
        uintptr_t at = reinterpret_cast<uintptr_t>(dest_);
        size_t skip = f_->direct ? static_cast<size_t>(AlignUp(at, kMemAlign) - at) : 0;
        if (skip + span <= destLen_) {
          into = dest_ + skip;
          destSkip_ = skip;
        }
      }
      uint8_t* target = into;
      if (target == nullptr) {
        buf_ = engine_->readPool_->Take(span, &cap_);
        if (buf_ == nullptr) {
          err_ = ENOMEM;
          return;
        }
        target = buf_;
      }
      int64_t got = PreadAll(f_->fd, target, span, start);
      engine_->diskReads_++;
      if (got < 0) {
        err_ = static_cast<int>(-got);
        return;
      }
      offset_ = static_cast<size_t>(pos_ - start);
      size_t have = static_cast<size_t>(got);
      avail_ = have > offset_ ? std::min(len_, have - offset_) : 0;
      if (dest_ != nullptr && into == nullptr) {
        std::memcpy(dest_, buf_ + offset_, avail_);
        engine_->readPool_->Give(buf_, cap_);
        buf_ = nullptr;
        offset_ = 0;
      } else if (into != nullptr) {
        offset_ += destSkip_;
      }
    }

    void OnOK() override {
      Napi::Env env = Env();
      if (err_ != 0) {
        auto e = Napi::Error::New(env, std::string("read ") + f_->path + ": " + std::strerror(err_));
        e.Set("errno", Napi::Number::New(env, -err_));
        deferred_.Reject(e.Value());
        return;
      }
      if (dest_ != nullptr) {
        // [offset, length] of the bytes read within `dest`.
        auto out = Napi::Array::New(env, 2);
        out.Set(uint32_t{0}, Napi::Number::New(env, static_cast<double>(offset_)));
        out.Set(uint32_t{1}, Napi::Number::New(env, static_cast<double>(avail_)));
        deferred_.Resolve(out);
        return;
      }
      // Zero-copy: the Buffer is a view of the aligned block the kernel read into; its finalizer gives the block
      // back to the pool (which the finalizer keeps alive: the engine may be gone by then).
      uint8_t* base = buf_;
      size_t cap = cap_;
      buf_ = nullptr;
      std::shared_ptr<BufferPool> pool = engine_->readPool_;
      int64_t external = static_cast<int64_t>(cap);
      Napi::MemoryManagement::AdjustExternalMemory(env, external);
      auto out = Napi::Buffer<uint8_t>::New(env, base + offset_, avail_, [pool, base, cap, external](Napi::Env e, uint8_t*) {
        pool->Give(base, cap);
        Napi::MemoryManagement::AdjustExternalMemory(e, -external);
      });
      if (out.IsEmpty()) {
        pool->Give(base, cap);  // the environment is shutting down: nothing can read it
        return;
      }
      deferred_.Resolve(out);
    }

    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

   private:
    Napi::Promise::Deferred deferred_;
    Engine* engine_;
    Napi::ObjectReference engineRef_;  // the engine outlives every read in flight
    std::shared_ptr<File> f_;
    uint64_t pos_;
    size_t len_;
    uint64_t limit_;
    uint8_t* buf_ = nullptr;
    size_t cap_ = 0;  // buf_'s size, from the pool
    size_t offset_ = 0;
    size_t avail_ = 0;
    int err_ = 0;
    Napi::Reference<Napi::Uint8Array> destRef_;
    uint8_t* dest_ = nullptr;
    size_t destLen_ = 0;
    size_t destSkip_ = 0;
  };

  // read(id, position, length, limit) -> Promise<Buffer>: up to `length` bytes, shorter at the end of the file.
  // `limit`: the file's size known written (bytes below it never change until a truncate); read-ahead never
  // keeps bytes at or past it. read(id, position, length, limit, dest) -> Promise<[offset, length]>: the bytes go
  // into the Uint8Array `dest` (at least length + 2 x alignment + 4 KiB, so a direct read fits aligned in it) at
  // `offset`, with no buffer of the engine's own.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    std::shared_ptr<File> f;
    {
      std::lock_guard<std::mutex> lock(mu_);
      f = Find(info);
    }
    if (!f) return info.Env().Undefined();
    uint64_t pos = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    size_t len = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
    uint64_t limit = info.Length() > 3 && info[3].IsNumber() ? static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value())
                                                            : pos + len;
    auto* w = new ReadWorker(info.Env(), this, std::move(f), pos, len, limit);
    if (info.Length() > 4 && info[4].IsTypedArray() && info[4].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      w->Into(info[4].As<Napi::Uint8Array>());
    }
    auto p = w->Promise();
    w->Queue();
    return p;
  }

  // ---- read-ahead (libuv pool threads and the prefetch thread) ----------------------------------------------

  // Serves [pos, pos + len) from the file's read-ahead blocks when they hold all of it (`served`): copied (in
  // native code, like the page cache's copy to user memory) into `dest` when given, else into `buf`, a buffer of
  // the read's own that JS may change and that frees its memory with the view, so read-ahead blocks are never
  // pinned by JS. Records the read; returns whether it continues the previous one (sequential).
  bool FromReadAhead(File& f, uint64_t pos, size_t len, uint8_t* dest, uint8_t*& buf, size_t& cap, bool& served) {
    const uint64_t end = pos + len;
    std::vector<std::shared_ptr<ReadBlock>> need;
    bool sequential;
    {
      std::lock_guard<std::mutex> lock(f.raMu);
      sequential = f.lastReadEnd != UINT64_MAX && pos >= f.lastReadStart && pos <= f.lastReadEnd + kSequentialSlackBytes;
      f.lastReadStart = pos;
      f.lastReadEnd = end;
      // Blocks wholly behind this read (one block of slack for a reader stepping back to a batch boundary).
      f.blocks.erase(std::remove_if(f.blocks.begin(), f.blocks.end(),
                                    [&](const std::shared_ptr<ReadBlock>& b) { return b->start + 2 * kReadBlockBytes <= pos; }),
                     f.blocks.end());
      for (uint64_t k = AlignDown(pos, kReadBlockBytes); k < end; k += kReadBlockBytes) {
        std::shared_ptr<ReadBlock> found;
        for (auto& b : f.blocks) {
          if (b->start == k) found = b;
        }
        if (!found || found->limit < std::min(end, k + kReadBlockBytes)) {
          need.clear();
          break;
        }
        need.push_back(std::move(found));
      }
    }
    if (need.empty()) {
      if (sequential) readAheadMisses_++;
      return sequential;
    }
    bool waited = false;
    for (auto& b : need) {
      std::unique_lock<std::mutex> lock(b->mu);
      if (!b->ready) waited = true;
      b->cv.wait(lock, [&] { return b->ready; });
      if (b->error != 0 || b->start + b->valid < std::min(end, b->start + kReadBlockBytes)) {
        if (sequential) readAheadMisses_++;
        return sequential;  // short or failed: read from the disk
      }
    }
    if (waited) readAheadWaits_++;
    readAheadHits_++;
    uint8_t* to = dest;
    if (to == nullptr) {
      buf = readPool_->Take(len, &cap);
      if (buf == nullptr) return sequential;
      to = buf;
    }
    size_t done = 0;
    for (auto& b : need) {
      uint64_t from = std::max(pos, b->start);
      uint64_t until = std::min(end, b->start + kReadBlockBytes);
      std::memcpy(to + done, b->mem + (from - b->start), static_cast<size_t>(until - from));
      done += static_cast<size_t>(until - from);
    }
    readAheadCopiedBytes_ += len;
    served = true;
    return sequential;
  }

  // Makes sure the blocks covering [from, from + readAheadBytes) (below `limit`) exist or are being read.
  void ScheduleReadAhead(const std::shared_ptr<File>& f, uint64_t from, uint64_t limit) {
    if (stop_.load()) return;
    uint64_t upTo = std::min<uint64_t>(limit, from + readAheadBytes_);
    std::vector<std::shared_ptr<ReadBlock>> fresh;
    {
      std::lock_guard<std::mutex> lock(f->raMu);
      for (uint64_t k = AlignDown(from, kReadBlockBytes); k < upTo; k += kReadBlockBytes) {
        auto it = std::find_if(f->blocks.begin(), f->blocks.end(), [&](const std::shared_ptr<ReadBlock>& b) { return b->start == k; });
        if (it != f->blocks.end()) {
          // A block read when the file was shorter is read again once the file has grown past it.
          std::lock_guard<std::mutex> bl((*it)->mu);
          bool stale = (*it)->ready && (*it)->limit < std::min<uint64_t>(limit, k + kReadBlockBytes);
          if (!stale) continue;
          f->blocks.erase(it);
        }
        if (readAheadBudget_->fetch_sub(static_cast<int64_t>(kReadBlockBytes)) <
            static_cast<int64_t>(kReadBlockBytes)) {
          readAheadBudget_->fetch_add(static_cast<int64_t>(kReadBlockBytes));
          readAheadOverBudget_++;
          break;
        }
        auto b = std::make_shared<ReadBlock>();
        b->start = k;
        b->limit = limit;
        b->budget = readAheadBudget_;
        b->pool = readPool_;
        f->blocks.push_back(b);
        fresh.push_back(std::move(b));
      }
    }
    if (fresh.empty()) return;
    {
      std::lock_guard<std::mutex> lock(prefetchMu_);
      for (auto& b : fresh) prefetchQueue_.push_back({f, std::move(b)});
    }
    prefetchCv_.notify_one();
  }

  void PrefetchLoop() {
    for (;;) {
      std::pair<std::shared_ptr<File>, std::shared_ptr<ReadBlock>> item;
      {
        std::unique_lock<std::mutex> lock(prefetchMu_);
        prefetchCv_.wait(lock, [this] { return stop_.load() || !prefetchQueue_.empty(); });
        if (stop_) break;
        item = std::move(prefetchQueue_.front());
        prefetchQueue_.pop_front();
      }
      ReadBlock& b = *item.second;
      int err = 0;
      size_t valid = 0;
      size_t cap;  // == kReadBlockBytes, what ~ReadBlock gives back
      b.mem = b.pool->Take(kReadBlockBytes, &cap);
      if (b.mem == nullptr) {
        err = ENOMEM;
      } else {
        int64_t got = PreadAll(item.first->fd, b.mem, kReadBlockBytes, b.start);
        if (got < 0) {
          err = static_cast<int>(-got);
        } else {
          valid = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(got), b.limit > b.start ? b.limit - b.start : 0));
          readAheadBytesRead_ += static_cast<uint64_t>(got);
        }
      }
      {
        std::lock_guard<std::mutex> lock(b.mu);
        b.valid = valid;
        b.error = err;
        b.ready = true;
      }
      b.cv.notify_all();
    }
    // Stopping: nobody reads the rest; wake whoever waits on them.
    std::lock_guard<std::mutex> lock(prefetchMu_);
    for (auto& item : prefetchQueue_) {
      std::lock_guard<std::mutex> bl(item.second->mu);
      item.second->error = ECANCELED;
      item.second->ready = true;
      item.second->cv.notify_all();
    }
    prefetchQueue_.clear();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    auto n = [&](const char* k, const std::atomic<uint64_t>& v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v.load()))); };
    n("rounds", rounds_);
    n("writes", writes_);
    n("bytesWritten", bytesWritten_);
    n("syncs", syncs_);
    n("callbacks", callbacks_);
    n("results", resultsPosted_);
    n("unalignedWrites", unaligned_);
    n("syncBatches", syncBatches_);
    n("splitJobs", splitJobs_);
    n("splitPieces", splitPieces_);
    n("piecesByHelpers", piecesByHelpers_);
    n("diskReads", diskReads_);
    n("readAheadHits", readAheadHits_);
    n("readAheadWaits", readAheadWaits_);
    n("readAheadMisses", readAheadMisses_);
    n("readAheadBytesRead", readAheadBytesRead_);
    n("readAheadCopiedBytes", readAheadCopiedBytes_);
    n("readAheadOverBudget", readAheadOverBudget_);
    o.Set("readBuffersReused", Napi::Number::New(env, static_cast<double>(readPool_->Reused())));
    o.Set("readBuffersAllocated", Napi::Number::New(env, static_cast<double>(readPool_->Allocated())));
    n("zeroAheadWrites", zeroAheadWrites_);
    n("zeroAheadBytes", zeroAheadBytesWritten_);
    n("zeroAheadFailures", zeroAheadFailures_);
    n("zeroAheadPending", zeroAheadPending_);
    n("journalEntries", journalEntries_);
    n("journalRecords", journalRecords_);
    n("journalBytes", journalBytes_);
    n("journalSyncs", journalSyncs_);
    n("journalSkippedFull", journalSkippedFull_);
    n("checkpoints", checkpoints_);
    n("checkpointSyncs", checkpointSyncs_);
    {
      std::lock_guard<std::mutex> lock(jmu_);
      o.Set("journalOn", Napi::Boolean::New(env, journalFd_ >= 0 && !journalFailed_));
      o.Set("journalFailed", Napi::Boolean::New(env, journalFailed_));
      o.Set("journalRetired", Napi::Boolean::New(env, journalRetired_));
      o.Set("journalKeptFiles", Napi::Number::New(env, static_cast<double>(jKept_.size())));
      o.Set("journalDirtyFiles", Napi::Number::New(env, static_cast<double>(jDirty_.size())));
    }
    auto h = Napi::Object::New(env);
    h.Set("fileLatencyUs", fileLatencyUs_.ToJs(env));
    h.Set("queueWaitUs", queueWaitUs_.ToJs(env));
    h.Set("syncWaitUs", syncWaitUs_.ToJs(env));
    h.Set("roundUs", roundUs_.ToJs(env));
    h.Set("writeUs", writeUs_.ToJs(env));
    h.Set("syncUs", syncUs_.ToJs(env));
    h.Set("deliverUs", deliverUs_.ToJs(env));
    h.Set("callbackUs", callbackUs_.ToJs(env));
    h.Set("filesPerRound", filesPerRound_.ToJs(env));
    h.Set("resultsPerCallback", resultsPerCallback_.ToJs(env));
    o.Set("histograms", h);
    return o;
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  // ---- runner threads ---------------------------------------------------------------------------------------

  // Two runner threads, each taking a whole round through both stages, so the writes of round N+1 overlap the
  // fdatasyncs of round N without handing a round from thread to thread (an append arriving while a sync runs is
  // written at once and waits only for that sync to end, then for its own; at low load one runner does all, with
  // no more thread hops than one):
  //   write stage (one runner at a time, `writing_`): take everything queued as one round (a ticket), write each
  //     file (in parallel on the pool), let the other runner take the next round;
  //   sync stage (rounds in ticket order, `syncTurn_`): one fdatasync per file asked to sync (in parallel), post
  //     the round's results.
  // Per file, writes stay serial and so do syncs; a file's write may run while its previous fdatasync is in
  // flight: that sync covers what was written before it began, and a rewritten tail block carries the same bytes
  // below the old end. A round with a truncate or a close is exclusive: it keeps the write stage and waits for
  // its sync turn before it runs write, sync and close (rare: recovery, roll, close).
  void RunnerLoop(uint8_t* staging) {
    for (;;) {
      std::vector<Job> jobs;
      uint64_t roundStartNs = 0;
      uint64_t ticket = 0;
      bool exclusive = false;
      uint64_t checkpointAsked = 0;  // JS asked for checkpoints (before a rename or remove): this round runs one
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_.load() || ((!dirty_.empty() || checkpointRequests_ > 0) && !writing_); });
        if (stop_) return;
        writing_ = true;
        if (flushDelayUs_ > 0 && queuedBytes_ < flushBytesMax_) {
          auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(flushDelayUs_);
          cv_.wait_until(lock, until, [this] { return stop_.load() || queuedBytes_ >= flushBytesMax_; });
          if (stop_) return;
        }
        checkpointAsked = checkpointRequests_;
        checkpointRequests_ = 0;
        exclusive = checkpointAsked > 0;
        jobs.reserve(dirty_.size());
        for (auto& f : dirty_) {
          Job j;
          j.file = f;
          j.chunks.swap(f->queue);
          j.bytes = f->queuedBytes;
          j.truncateTo = f->truncateTo;
          j.sync = f->wantSync;
          j.close = f->wantClose;
          j.queuedNs = f->queuedNs;
          exclusive = exclusive || j.truncateTo >= 0 || j.close;
          f->queuedBytes = 0;
          f->truncateTo = -1;
          f->wantSync = f->wantClose = false;
          f->dirty = false;
          jobs.push_back(std::move(j));
        }
        dirty_.clear();
        // Zero-ahead belongs to light rounds (latency-bound: each round's journal commit is its own); a heavy round
        // shares one commit among many appends, and zeros would take bandwidth from it. Set here, read by this
        // round's write stage only (one round writes at a time).
        zeroBudget_.store(queuedBytes_ <= kZeroAheadRoundDataMax ? static_cast<int64_t>(zeroAheadBytes_) : 0);
        queuedBytes_ = 0;
        ticket = nextTicket_++;
        roundStartNs = NowNs();
        queueWaitUs_.Record(roundStartNs > firstQueuedNs_ ? (roundStartNs - firstQueuedNs_) / 1000 : 0);
      }
      rounds_++;
      filesPerRound_.Record(jobs.size());
      std::vector<Result> results(jobs.size());
      if (!exclusive) {
        ForEach(jobs.size(), kWritesPerHelper, staging, [&](size_t i, uint8_t* st) { WritePhase(jobs[i], st); });
        ReleaseWriteStage();
      }
      uint64_t writtenNs = NowNs();
      if (!WaitSyncTurn(ticket)) return;
      syncWaitUs_.Record(MicrosSince(writtenNs));
      if (exclusive) {
        // A truncate or close must not leave journal entries for the file behind (they would be replayed over
        // whatever the file holds next), nor may a rename or remove JS is about to do: a full checkpoint first.
        bool settle = checkpointAsked > 0;
        if (!settle && journalFd_ >= 0) {
          std::lock_guard<std::mutex> lock(jmu_);
          for (auto& j : jobs)
            if ((j.truncateTo >= 0 || j.close) && (j.file->jDirty || j.file->ckptRefs > 0)) settle = true;
        }
        if (settle) FullCheckpoint();
        ForEach(jobs.size(), kWritesPerHelper, staging, [&](size_t i, uint8_t* st) { results[i] = RunJob(jobs[i], st); });
        if (checkpointAsked > 0) results.push_back(Result{0, checkpointAsked, 0, 0, kCheckpointed});
      } else {
        syncBatches_++;
        SyncStage(jobs, results);
      }
      // The journal failed and was dealt with (RetireJournal): JS hears it once, as a result with id 0.
      if (int e = journalEvent_.exchange(0); e != 0) {
        std::lock_guard<std::mutex> lock(jmu_);
        results.push_back(Result{0, jKept_.size(), journalRetired_ ? 1u : 0u, e, kJournalFailed});
      }
      uint64_t now = NowNs();
      roundUs_.Record(now > roundStartNs ? (now - roundStartNs) / 1000 : 0);
      // Once per chunk (an append's piece): a round that carries many appends counts as many times, as they wait.
      for (auto& j : jobs) fileLatencyUs_.Record(now > j.queuedNs ? (now - j.queuedNs) / 1000 : 0, std::max<size_t>(1, j.chunks.size()));
      std::vector<std::shared_ptr<File>> zeroFiles;
      for (auto& j : jobs)
        if (j.zeroAhead) zeroFiles.push_back(j.file);
      jobs.clear();  // the chunks' owned copies go before JS hears the bytes are written
      Post(results);
      if (exclusive) ReleaseWriteStage();
      {
        std::lock_guard<std::mutex> lock(syncMu_);
        syncTurn_++;
      }
      syncTurnCv_.notify_all();
      // The zeros go out after the round is posted, on a pool thread (the runner takes the next round): no append
      // waits for their write unless it reaches into them.
      if (!zeroFiles.empty()) {
        if (pool_.empty()) {
          for (auto& f : zeroFiles) ZeroAheadWrite(*f);
        } else {
          Help(1, [this, files = std::move(zeroFiles)](uint8_t*) {
            for (auto& f : files) ZeroAheadWrite(*f);
          });
        }
      }
    }
  }

  // ---- journal (sync stage, checkpoints) ---------------------------------------------------------------------

  // The sync stage of a round without truncates or closes. With a journal, when at least journalFilesMin_ files
  // of the round ask to sync and each is durable up to this round's data, their data goes into one journal entry
  // and one fdatasync of the journal, beside the fdatasyncs of the round's other files; the files themselves are
  // synced later by a checkpoint. Otherwise one fdatasync per file, all in parallel.
  void SyncStage(std::vector<Job>& jobs, std::vector<Result>& results) {
    const size_t n = jobs.size();
    if (journalFd_ < 0) {
      ForEach(n, kSyncsPerHelper, nullptr, [&](size_t i, uint8_t*) { results[i] = SyncPhase(jobs[i]); });
      return;
    }
    std::vector<char> viaJournal(n, 0);
    uint64_t entryVpos = 0;
    size_t entryPadded = 0;
    const bool journaled = PickJournaled(jobs, viaJournal, entryVpos, entryPadded);
    int journalErr = 0;
    ForEach(n + (journaled ? 1 : 0), kSyncsPerHelper, nullptr, [&](size_t i, uint8_t*) {
      if (i == n) journalErr = WriteJournalEntry(entryVpos, entryPadded);
      else if (!viaJournal[i]) results[i] = SyncPhase(jobs[i]);
    });
    if (!journaled) {
      // Any round may be the one to start a due checkpoint (the ring may be full, or traffic moved to few files).
      MaybeStartCheckpoint();
      return;
    }
    if (journalErr == 0) {
      std::lock_guard<std::mutex> lock(jmu_);
      for (size_t i = 0; i < n; i++) {
        if (!viaJournal[i]) continue;
        File& f = *jobs[i].file;
        f.synced = jobs[i].writtenAfter;  // durable through the journal entry
        if (!f.jDirty) {
          f.jDirty = true;
          jDirty_.push_back(jobs[i].file);
        }
        results[i] = Result{f.id, jobs[i].writtenAfter, f.synced, f.error, f.error == 0 ? kSynced : 0u};
      }
    } else {
      // The journal failed (it is off from now on): these files sync themselves. Not a retry: their own
      // fdatasync was never tried, and their writes succeeded.
      std::vector<size_t> own;
      for (size_t i = 0; i < n; i++)
        if (viaJournal[i]) own.push_back(i);
      ForEach(own.size(), kSyncsPerHelper, nullptr, [&](size_t k, uint8_t*) { results[own[k]] = SyncPhase(jobs[own[k]]); });
      RetireJournal();
    }
    MaybeStartCheckpoint();
  }

  // Chooses the round's files that go through the journal and builds their entry in journalBuf_ (at entryVpos,
  // entryPadded bytes). False when the journal is off, the round has too few such files, or the ring is full.
  bool PickJournaled(std::vector<Job>& jobs, std::vector<char>& via, uint64_t& entryVpos, size_t& entryPadded) {
    if (BuildJournalEntry(jobs, via, entryVpos, entryPadded)) return true;
    std::fill(via.begin(), via.end(), 0);  // every file of the round syncs itself
    return false;
  }

  bool BuildJournalEntry(std::vector<Job>& jobs, std::vector<char>& via, uint64_t& entryVpos, size_t& entryPadded) {
    size_t size = kJournalEntryHeaderBytes;
    size_t count = 0;
    for (size_t i = 0; i < jobs.size(); i++) {
      Job& j = jobs[i];
      File& f = *j.file;
      // Durable up to this round's data (so the entry holds everything not yet durable), and its name durable
      // (a file created since its directory was last synced syncs itself, directory included).
      if (!j.sync || f.error != 0 || j.bytes == 0 || f.synced + j.bytes != j.writtenAfter || (f.created && !f.dirSynced)) continue;
      size_t rec = kJournalRecordHeaderBytes + f.jname.size() + static_cast<size_t>(j.bytes);
      if (size + rec > kJournalEntryBytesMax) continue;
      size += rec;
      via[i] = 1;
      count++;
    }
    if (count < journalFilesMin_) return false;
    const size_t padded = static_cast<size_t>(AlignUp(size, kJournalHeaderBytes));
    uint64_t vpos;
    {
      std::lock_guard<std::mutex> lock(jmu_);
      if (journalFailed_) return false;
      vpos = journalVpos_;
      uint64_t lap = vpos % journalRing_;
      if (lap + padded > journalRing_) vpos += journalRing_ - lap;  // entries never wrap: the next lap
      if (vpos + padded - journalVtail_ > journalRing_) {
        journalSkippedFull_++;
        wantCheckpointSoon_ = true;
        return false;
      }
    }
    uint8_t* b = journalBuf_;
    size_t at = kJournalEntryHeaderBytes;
    uint32_t records = 0;
    for (size_t i = 0; i < jobs.size(); i++) {
      if (!via[i]) continue;
      Job& j = jobs[i];
      File& f = *j.file;
      uint32_t nameLen = static_cast<uint32_t>(f.jname.size());
      uint32_t dataLen = static_cast<uint32_t>(j.bytes);
      uint64_t offset = j.writtenAfter - j.bytes;
      std::memcpy(b + at, &nameLen, 4);
      std::memcpy(b + at + 4, &dataLen, 4);
      std::memcpy(b + at + 8, &offset, 8);
      at += kJournalRecordHeaderBytes;
      std::memcpy(b + at, f.jname.data(), nameLen);
      at += nameLen;
      for (const Chunk& c : j.chunks) {
        std::memcpy(b + at, c.data, c.size);
        at += c.size;
      }
      records++;
    }
    std::memset(b + at, 0, padded - at);
    uint32_t magic = kJournalEntryMagic;
    uint32_t len = static_cast<uint32_t>(size);
    uint64_t zero = 0;
    std::memcpy(b, &magic, 4);
    std::memcpy(b + 8, &vpos, 8);
    std::memcpy(b + 16, &len, 4);
    std::memcpy(b + 20, &records, 4);
    std::memcpy(b + 24, &zero, 8);
    std::memcpy(b + 32, &zero, 8);
    uint32_t crc = crc32c(0, b + 8, size - 8);
    std::memcpy(b + 4, &crc, 4);
    journalRecords_ += records;
    entryVpos = vpos;
    entryPadded = padded;
    return true;
  }

  int WriteJournalEntry(uint64_t vpos, size_t padded) {
    uint64_t pos = kJournalHeaderBytes + vpos % journalRing_;
    int e = PwriteAll(journalFd_, journalBuf_, padded, pos, kJournalHeaderBytes);
    if (e == 0) {
      uint64_t t0 = NowNs();
      if (::fdatasync(journalFd_) != 0) e = errno;
      syncUs_.Record(MicrosSince(t0));
    }
    std::lock_guard<std::mutex> lock(jmu_);
    if (e != 0) {
      journalFailed_ = true;
      if (journalError_ == 0) journalError_ = e;
      return e;
    }
    journalVpos_ = vpos + padded;
    journalEntries_++;
    journalBytes_ += padded;
    journalSyncs_++;
    syncs_++;
    return 0;
  }

  // After a journaled round: a checkpoint in the background once half the ring is used, the ring was full, or
  // the oldest unsynced entry is older than checkpointIntervalNs_.
  void MaybeStartCheckpoint() {
    std::vector<std::shared_ptr<File>> files;
    uint64_t upTo;
    {
      std::lock_guard<std::mutex> lock(jmu_);
      if (ckptRunning_ || journalFailed_ || jDirty_.empty()) return;
      uint64_t now = NowNs();
      bool due = wantCheckpointSoon_ || journalVpos_ - journalVtail_ > journalRing_ / 2 || now - lastCheckpointNs_ > checkpointIntervalNs_;
      if (!due) return;
      upTo = TakeCheckpointLocked(files);
    }
    if (pool_.empty()) {
      RunCheckpoint(files, upTo);
      return;
    }
    Help(1, [this, files = std::move(files), upTo](uint8_t*) { RunCheckpoint(files, upTo); });
  }

  // jmu_ held: the dirty files become the running checkpoint's; returns the ring position it will free up to.
  uint64_t TakeCheckpointLocked(std::vector<std::shared_ptr<File>>& files) {
    ckptRunning_ = true;
    wantCheckpointSoon_ = false;
    files.swap(jDirty_);
    for (auto& f : files) {
      f->jDirty = false;
      f->ckptRefs++;
    }
    ckptFiles_ = files;
    return journalVpos_;
  }

  // fdatasyncs every file of the checkpoint (in parallel), then moves the journal's tail to `upTo` (the header,
  // synced). A failed fdatasync latches that file's error and turns the journal off with its entries kept: the
  // file's acknowledged bytes are then durable only there, and the next start replays them.
  void RunCheckpoint(const std::vector<std::shared_ptr<File>>& files, uint64_t upTo) {
    std::atomic<int> bad{0};
    // On kCheckpointThreads threads, not one per file: a burst of a thousand fdatasyncs at once held the rounds'
    // journal syncs behind it (p99.9 of 1,000 partitions at 20,000 appends/s 2x worse).
    const size_t perThread = std::max<size_t>(1, (files.size() + kCheckpointThreads - 1) / kCheckpointThreads);
    std::vector<char> failed(files.size(), 0);
    ForEach(files.size(), perThread, nullptr, [&](size_t i, uint8_t*) {
      if (!CheckpointSync(*files[i])) {
        failed[i] = 1;
        bad++;
      }
    });
    int headerErr = bad.load() == 0 ? WriteJournalHeader(upTo) : 0;
    bool ok = bad.load() == 0 && headerErr == 0;
    {
      std::lock_guard<std::mutex> lock(jmu_);
      if (ok) journalVtail_ = upTo;
      else journalFailed_ = true;
      for (size_t i = 0; i < files.size() && !ok && journalError_ == 0; i++)
        if (failed[i]) journalError_ = files[i]->error;
      if (!ok && journalError_ == 0) journalError_ = headerErr != 0 ? headerErr : EIO;
      for (size_t i = 0; i < files.size(); i++)
        if (failed[i]) jKept_.push_back(files[i]);
      for (auto& f : files) f->ckptRefs--;
      ckptFiles_.clear();
      ckptRunning_ = false;
      lastCheckpointNs_ = NowNs();
      checkpoints_++;
    }
    jcv_.notify_all();
    if (!ok) RetireJournal();
  }

  // A checkpoint's fdatasync of one file with journaled bytes: true once they are durable in the file itself. A
  // file whose write failed for want of space still syncs (its journaled bytes were written before; the partition
  // reopens once space returns, and its close must not need the journal); one whose fdatasync failed, or whose
  // write failed otherwise, does not: its acknowledged bytes then stay durable only in the journal.
  bool CheckpointSync(File& f) {
    int err = f.error;
    if (err != 0 && (f.syncFailed || (err != ENOSPC && err != EDQUOT))) return false;
    if (!FdatasyncFile(f)) return false;
    syncs_++;
    checkpointSyncs_++;
    return true;
  }

  // fdatasync of a file, timed; a failure latches its error as a failed sync (never retried).
  bool FdatasyncFile(File& f) {
    uint64_t t0 = NowNs();
    int rc = ::fdatasync(f.fd);
    int e = errno;
    syncUs_.Record(MicrosSince(t0));
    if (rc == 0) return true;
    f.error = e;
    f.syncFailed = true;
    return false;
  }

  // Once the journal has failed it takes no entries, but those it holds must not outlive the bytes they stand
  // for: truncates, closes, renames and removes no longer checkpoint, and a replay after a file was truncated or
  // recreated would write old bytes over new ones. So every file with live entries syncs itself now, and when none
  // is left the journal is unlinked (its directory synced) and no start replays it. A file whose own sync fails
  // keeps its entries (its acknowledged bytes are durable only there; its error is latched, so its partition takes
  // no more writes), and the journal stays for the next start to replay.
  void RetireJournal() {
    std::vector<std::shared_ptr<File>> files;
    {
      std::unique_lock<std::mutex> lock(jmu_);
      jcv_.wait(lock, [this] { return !ckptRunning_; });
      if (!journalFailed_ || journalRetireRan_) return;  // one pass: no entry is added once it has failed
      ckptRunning_ = true;  // one at a time; no checkpoint starts once the journal has failed
      files.swap(jDirty_);
      for (auto& f : files) {
        f->jDirty = false;
        f->ckptRefs++;
      }
      ckptFiles_ = files;
    }
    std::vector<char> failed(files.size(), 0);
    const size_t perThread = std::max<size_t>(1, (files.size() + kCheckpointThreads - 1) / kCheckpointThreads);
    ForEach(files.size(), perThread, nullptr, [&](size_t i, uint8_t*) { failed[i] = CheckpointSync(*files[i]) ? 0 : 1; });
    {
      std::lock_guard<std::mutex> lock(jmu_);
      for (size_t i = 0; i < files.size(); i++)
        if (failed[i]) jKept_.push_back(files[i]);
      for (auto& f : files) f->ckptRefs--;
      ckptFiles_.clear();
      if (jKept_.empty() && ::unlink(journalPath_.c_str()) == 0 && SyncParentDir(journalPath_) == 0) journalRetired_ = true;
      journalRetireRan_ = true;
      journalEvent_ = journalError_ != 0 ? journalError_ : EIO;
      ckptRunning_ = false;
    }
    jcv_.notify_all();
  }

  // Waits for a running checkpoint, then checkpoints whatever is dirty, on this thread.
  void FullCheckpoint() {
    if (journalFd_ < 0) return;
    std::vector<std::shared_ptr<File>> files;
    uint64_t upTo = 0;
    {
      std::unique_lock<std::mutex> lock(jmu_);
      jcv_.wait(lock, [this] { return !ckptRunning_; });
      if (!journalFailed_) {
        if (jDirty_.empty()) return;
        upTo = TakeCheckpointLocked(files);
      }
    }
    if (files.empty()) RetireJournal();
    else RunCheckpoint(files, upTo);
  }

  // Block 0: the header twice (at 0 and 512), each [magic, crc32c of the next 24 bytes, vtail, ring, 0].
  int WriteJournalHeader(uint64_t vtail) {
    uint8_t* b = journalHeaderBuf_;
    std::memset(b, 0, kJournalHeaderBytes);
    for (size_t copy = 0; copy < 2; copy++) {
      uint8_t* h = b + copy * 512;
      uint32_t magic = kJournalHeaderMagic;
      uint64_t zero = 0;
      std::memcpy(h, &magic, 4);
      std::memcpy(h + 8, &vtail, 8);
      std::memcpy(h + 16, &journalRing_, 8);
      std::memcpy(h + 24, &zero, 8);
      uint32_t crc = crc32c(0, h + 8, 24);
      std::memcpy(h + 4, &crc, 4);
    }
    int e = PwriteAll(journalFd_, b, kJournalHeaderBytes, 0, kJournalHeaderBytes);
    if (e == 0 && ::fdatasync(journalFd_) != 0) e = errno;
    if (e == 0) journalSyncs_++;
    return e;
  }

  static bool ParseJournalHeader(const uint8_t* h, uint64_t& vtail, uint64_t& ring) {
    uint32_t magic, crc;
    std::memcpy(&magic, h, 4);
    std::memcpy(&crc, h + 4, 4);
    if (magic != kJournalHeaderMagic || crc != crc32c(0, h + 8, 24)) return false;
    std::memcpy(&vtail, h + 8, 8);
    std::memcpy(&ring, h + 16, 8);
    return true;
  }

  // openJournal(path, root, bytes, filesMin, checkpointIntervalMs) -> errno (0: on). Before any file is opened. An existing journal
  // must have been replayed (src/io/journal.ts): one whose next entry is still valid is refused (EEXIST), as
  // writing over it would lose acknowledged bytes. A new one is allocated whole (fallocate, or zeros), its
  // directory synced.
  Napi::Value OpenJournal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>().Utf8Value();
    journalRoot_ = info[1].As<Napi::String>().Utf8Value();
    journalPath_ = path;
    uint64_t bytes = AlignUp(static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()), kJournalHeaderBytes);
    bytes = std::min(std::max(bytes, kJournalBytesMin), kJournalBytesMax);
    journalFilesMin_ = std::max<size_t>(1, static_cast<size_t>(info[3].As<Napi::Number>().Int64Value()));
    checkpointIntervalNs_ = static_cast<uint64_t>(std::max<int64_t>(1, info[4].As<Napi::Number>().Int64Value())) * 1'000'000;
    auto fail = [&](int e) {
      if (journalFd_ >= 0) ::close(journalFd_);
      journalFd_ = -1;
      return Napi::Number::New(env, e);
    };
    if (journalFd_ >= 0) return fail(EBUSY);
    journalBuf_ = static_cast<uint8_t*>(AlignedAlloc(kJournalEntryBytesMax));
    journalHeaderBuf_ = static_cast<uint8_t*>(AlignedAlloc(kJournalHeaderBytes));
    if (journalBuf_ == nullptr || journalHeaderBuf_ == nullptr) return fail(ENOMEM);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (directOff_ ? 0 : O_DIRECT));
    if (fd < 0 && errno == EINVAL) fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      // A new journal is made whole under a temporary name (its space, then the header, synced) and renamed into
      // place: a crash or a full disk part way leaves no journal a later start would refuse.
      std::string tmp = path + ".tmp";
      ::unlink(tmp.c_str());
      // On a small file system the journal takes at most an eighth of the free space (at least kJournalBytesMin),
      // or is not made at all: it must not be what fills the disk.
      auto slash = path.rfind('/');
      struct statvfs vfs;
      if (slash != std::string::npos && ::statvfs(path.substr(0, slash == 0 ? 1 : slash).c_str(), &vfs) == 0) {
        uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
        if (avail / 8 < kJournalBytesMin) return fail(ENOSPC);
        bytes = std::min(bytes, AlignDown(avail / 8, kJournalHeaderBytes));
      }
      fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL | (directOff_ ? 0 : O_DIRECT), 0644);
      if (fd < 0 && errno == EINVAL) fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
      if (fd < 0) return fail(errno);
      journalFd_ = fd;
      journalRing_ = bytes - kJournalHeaderBytes;
      // Allocated, reading as zeros (no stale bytes a replay could take for an entry). fallocate makes unwritten
      // extents at once: the first lap's fdatasyncs then also commit their conversion, later laps overwrite. Where
      // fallocate is not supported, zeros are written.
      int e = 0;
      if (::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0) {
        for (uint64_t at = kJournalHeaderBytes; at < bytes && e == 0; at += kStagingBytes) {
          e = PwriteAll(fd, zeros_, static_cast<size_t>(std::min<uint64_t>(kStagingBytes, bytes - at)), at, kJournalHeaderBytes);
        }
      }
      if (e == 0) e = WriteJournalHeader(0);
      if (e == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) e = errno;
      if (e == 0) e = SyncParentDir(path);
      if (e != 0) {
        ::unlink(tmp.c_str());
        return fail(e);
      }
      journalVpos_ = journalVtail_ = 0;
      lastCheckpointNs_ = NowNs();
      DropSkipList();
      return Napi::Number::New(env, 0);
    }
    if (fd < 0) return fail(errno);
    journalFd_ = fd;
    struct stat st;
    if (::fstat(fd, &st) != 0) return fail(errno);
    if (PreadAll(fd, journalHeaderBuf_, kJournalHeaderBytes, 0) != static_cast<int64_t>(kJournalHeaderBytes)) return fail(EIO);
    uint64_t vtail = 0, ring = 0, vtail2 = 0, ring2 = 0;
    bool a = ParseJournalHeader(journalHeaderBuf_, vtail, ring);
    bool b = ParseJournalHeader(journalHeaderBuf_ + 512, vtail2, ring2);
    if (!a && !b) return fail(EBADMSG);
    if (!a || (b && vtail2 > vtail)) {
      vtail = vtail2;
      ring = ring2;
    }
    if (ring == 0 || ring % kJournalHeaderBytes != 0 || ring + kJournalHeaderBytes != static_cast<uint64_t>(st.st_size)) return fail(EBADMSG);
    journalRing_ = ring;
    // Not replayed? An entry at the tail means acknowledged bytes may live only here.
    uint8_t* e = journalBuf_;
    if (PreadAll(fd, e, kJournalHeaderBytes, kJournalHeaderBytes + vtail % ring) == static_cast<int64_t>(kJournalHeaderBytes)) {
      uint32_t magic;
      uint64_t evpos;
      std::memcpy(&magic, e, 4);
      std::memcpy(&evpos, e + 8, 8);
      if (magic == kJournalEntryMagic && evpos == vtail) return fail(EEXIST);
    }
    journalVpos_ = journalVtail_ = vtail;
    lastCheckpointNs_ = NowNs();
    DropSkipList();
    return Napi::Number::New(env, 0);
  }

  // journalTouches(paths) -> whether a file at one of `paths`, or under one of them, has journal entries no
  // checkpoint has finished with: JS then asks for a checkpoint before it renames or removes there.
  Napi::Value JournalTouches(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (journalFd_ < 0) return Napi::Boolean::New(env, false);
    auto arr = info[0].As<Napi::Array>();
    std::vector<std::string> paths;
    for (uint32_t i = 0; i < arr.Length(); i++) paths.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    auto under = [&](const std::string& p) {
      for (auto& q : paths) {
        if (p == q || (p.size() > q.size() && p.compare(0, q.size(), q) == 0 && p[q.size()] == '/')) return true;
      }
      return false;
    };
    std::lock_guard<std::mutex> lock(jmu_);
    // Files whose entries live only in a failed journal are going away (JS renames or removes only to delete):
    // their names go on the journal's skip list, so a replay never writes their old bytes into a file made
    // later under the same name. If the list cannot be written, they stay and the caller checkpoints (in vain).
    std::vector<std::shared_ptr<File>> leaving;
    for (auto& f : jKept_)
      if (under(f->path)) leaving.push_back(f);
    bool keptLeft = false;
    if (!leaving.empty()) {
      if (AppendSkipList(leaving) == 0) {
        jKept_.erase(std::remove_if(jKept_.begin(), jKept_.end(), [&](const std::shared_ptr<File>& f) { return under(f->path); }), jKept_.end());
      } else {
        keptLeft = true;
      }
    }
    if (keptLeft) return Napi::Boolean::New(env, true);
    for (auto& f : jDirty_)
      if (under(f->path)) return Napi::Boolean::New(env, true);
    for (auto& f : ckptFiles_)
      if (under(f->path)) return Napi::Boolean::New(env, true);
    return Napi::Boolean::New(env, false);
  }

  // Once the journal is open (replayed, or new): a skip list left beside it was for entries the replay has dealt
  // with; kept, it could hide this run's entries for a file made again under one of its names.
  void DropSkipList() {
    std::string skip = journalPath_ + ".skip";
    if (::unlink(skip.c_str()) == 0) SyncParentDir(skip);
  }

  // jmu_ held: appends the files' journal names to `<journal>.skip`, one per line, synced (and its directory,
  // when it is new). src/io/journal.ts skips their records; the list goes with the journal's next replay.
  int AppendSkipList(const std::vector<std::shared_ptr<File>>& files) {
    std::string list;
    for (auto& f : files) {
      if (f->jname.find('\n') != std::string::npos) return EINVAL;  // not a name a line can hold
      list += f->jname;
      list += '\n';
    }
    std::string skip = journalPath_ + ".skip";
    struct stat st;
    bool existed = ::stat(skip.c_str(), &st) == 0;
    int fd = ::open(skip.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    int e = 0;
    for (size_t at = 0; at < list.size() && e == 0;) {
      ssize_t n = ::write(fd, list.data() + at, list.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) e = n < 0 ? errno : EIO;
      else at += static_cast<size_t>(n);
    }
    if (e == 0 && ::fdatasync(fd) != 0) e = errno;
    ::close(fd);
    if (e == 0 && !existed) e = SyncParentDir(skip);
    return e;
  }

  // checkpoint(): the next round runs a full checkpoint and reports it as a result with id 0 (kCheckpointed) whose
  // `written` is the number of checkpoint() calls it answers.
  Napi::Value RequestCheckpoint(const Napi::CallbackInfo& info) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      checkpointRequests_++;
    }
    cv_.notify_one();
    return info.Env().Undefined();
  }

  void ReleaseWriteStage() {
    bool more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      more = !dirty_.empty();
    }
    // The other runner, if work is already queued (it waits for the write stage). Without queued work the next
    // kick wakes a runner: waking one here for nothing would cost a context switch per round.
    if (more) cv_.notify_one();
  }

  bool WaitSyncTurn(uint64_t ticket) {
    std::unique_lock<std::mutex> lock(syncMu_);
    syncTurnCv_.wait(lock, [&] { return stop_.load() || syncTurn_ == ticket; });
    return !stop_.load();
  }

  void WritePhase(Job& j, uint8_t* staging) {
    File& f = *j.file;
    if (f.error == 0 && !j.chunks.empty()) {
      uint64_t t0 = NowNs();
      int e;
      if (f.direct) {
        // Reaching into a planned zero write: after it (the writes must not overlap, in either order).
        std::unique_lock<std::mutex> zl(f.zeroMu, std::defer_lock);
        if (AlignUp(f.written + j.bytes, f.align) > f.zeroFrom.load()) zl.lock();
        e = WriteDirect(f, j.chunks, staging);
        if (e == 0) j.zeroAhead = PlanZeroAhead(f, zl);
      } else {
        e = WriteBuffered(f, j.chunks);
      }
      writeUs_.Record(MicrosSince(t0));
      if (e != 0) f.error = e;
    }
    j.writtenAfter = f.written;
  }

  Result SyncPhase(Job& j) {
    File& f = *j.file;
    uint32_t flags = f.error == 0 && j.sync ? SyncFile(f, j.writtenAfter) : 0;
    return Result{f.id, j.writtenAfter, f.synced, f.error, flags};
  }

  // fdatasync, then (once, for a file this engine created) its directory, so the name is durable too. On success
  // the file is durable up to `upTo` (kSynced); a failure latches f.error.
  uint32_t SyncFile(File& f, uint64_t upTo) {
    if (!FdatasyncFile(f)) return 0;
    syncs_++;
    if (f.created && !f.dirSynced) f.error = SyncParentDir(f.path);
    if (f.error != 0) return 0;
    f.dirSynced = true;
    f.synced = upTo;
    return kSynced;
  }

  // Runs fn(i, staging) for every i < n: the calling thread takes a share, pool threads the rest (one per
  // `perHelper` further items, up to the pool: ioThreads is a maximum, the round sizes it). Helpers hold the state
  // by shared_ptr: one that starts after the work is done claims nothing and never calls `fn` (whose captures live
  // on the caller's stack).
  //   Writes: one helper per kWritesPerHelper files (a write is mostly a memcpy into staging: CPU the JS thread of
  //   a 2-vCPU box needs). Syncs: one thread per file (kSyncsPerHelper), so all of a round's fdatasyncs are in
  //   flight at once and the kernel merges them: they wait on one journal commit and one device cache flush, not
  //   one after another (with a thread per 4 files, a round of 16 files took 4 syncs' time).
  static constexpr size_t kWritesPerHelper = 4;
  static constexpr size_t kSyncsPerHelper = 1;

  struct ForEachState {
    std::function<void(size_t, uint8_t*)> fn;
    size_t n = 0;
    std::atomic<size_t> next{0};
    std::mutex mu;
    std::condition_variable cv;
    size_t done = 0;
  };

  void ForEach(size_t n, size_t perHelper, uint8_t* staging, const std::function<void(size_t, uint8_t*)>& fn) {
    if (n == 0) return;
    if (n == 1 || pool_.empty()) {
      for (size_t i = 0; i < n; i++) fn(i, staging);
      return;
    }
    auto st = std::make_shared<ForEachState>();
    st->fn = fn;
    st->n = n;
    auto work = [st](uint8_t* own) {
      for (size_t i; (i = st->next.fetch_add(1)) < st->n;) {
        st->fn(i, own);
        std::lock_guard<std::mutex> lock(st->mu);
        if (++st->done == st->n) st->cv.notify_all();
      }
    };
    Help(std::min(pool_.size(), (n - 1 + perHelper - 1) / perHelper), work);
    work(staging);
    std::unique_lock<std::mutex> lock(st->mu);
    st->cv.wait(lock, [&] { return st->done == n; });
  }

  void Help(size_t helpers, const std::function<void(uint8_t*)>& task) {
    if (helpers == 0) return;
    {
      std::lock_guard<std::mutex> lock(poolMu_);
      for (size_t h = 0; h < helpers; h++) poolTasks_.push_back(task);
    }
    if (helpers == 1) poolCv_.notify_one();
    else poolCv_.notify_all();
  }

  void PoolLoop() {
    uint8_t* staging = static_cast<uint8_t*>(AlignedAlloc(kStagingBytes));
    for (;;) {
      std::function<void(uint8_t*)> task;
      {
        std::unique_lock<std::mutex> lock(poolMu_);
        poolCv_.wait(lock, [this] { return stop_.load() || !poolTasks_.empty(); });
        if (poolTasks_.empty()) break;  // stopping
        task = std::move(poolTasks_.front());
        poolTasks_.pop_front();
        poolBusy_++;
      }
      task(staging);
      {
        std::lock_guard<std::mutex> lock(poolMu_);
        poolBusy_--;
      }
    }
    std::free(staging);
  }

  Result RunJob(Job& j, uint8_t* staging) {
    File& f = *j.file;
    uint32_t flags = 0;
    // Truncate and close change the file under any zeros ahead: a planned zero write is dropped (this job plans
    // again after its own write), a running one is waited for.
    std::unique_lock<std::mutex> zl(f.zeroMu);
    if (f.zeroTo != 0) zeroAheadPending_--;
    f.zeroTo = 0;
    f.zeroFrom = UINT64_MAX;
    if (f.error == 0 && j.truncateTo >= 0) {
      if (::ftruncate(f.fd, j.truncateTo) != 0) {
        f.error = errno;
      } else {
        f.written = f.diskSize = static_cast<uint64_t>(j.truncateTo);
        f.synced = std::min(f.synced, f.written);
        f.tailLoaded = false;
        flags |= kTruncated;
      }
    }
    if (f.error == 0 && !j.chunks.empty()) {
      uint64_t t0 = NowNs();
      f.error = f.direct ? WriteDirect(f, j.chunks, staging) : WriteBuffered(f, j.chunks);
      writeUs_.Record(MicrosSince(t0));
      if (f.error == 0 && f.direct && !j.close) j.zeroAhead = PlanZeroAhead(f, zl);
    }
    if (f.error == 0 && j.sync) flags |= SyncFile(f, f.written);
    if (j.close) {
      // Drop the zero padding of a direct file's last block and its zeros ahead so the file ends at its logical
      // size (asked of the file itself: a zero-ahead write that failed half way may have left more).
      struct stat st;
      if (f.error == 0 && f.direct && (::fstat(f.fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != f.written)) {
        if (::ftruncate(f.fd, static_cast<off_t>(f.written)) != 0 || ::fdatasync(f.fd) != 0) f.error = errno;
        else f.diskSize = f.written;
      }
      flags |= kClosed;
    }
    return Result{f.id, f.written, f.synced, f.error, flags};
  }

  // After a direct file's data write (its write stage): plans the next zero-ahead write once less than half a step
  // is left ahead (see the top of this file); it runs after the round is posted (ZeroAheadWrite). `zl` is the
  // file's zeroMu, held or not: no zero write is planned or running when zeroFrom is UINT64_MAX, and none can
  // start before this returns (only this round would start it).
  bool PlanZeroAhead(File& f, std::unique_lock<std::mutex>& zl) {
    uint64_t end = AlignUp(f.written, f.align);
    if (f.diskSize < end) f.diskSize = end;
    if (zeroAheadBytes_ == 0 || f.zeroOff || f.zeroFrom.load() != UINT64_MAX) return false;
    if (f.zeroStep == 0) f.zeroStep = std::min(kZeroAheadFirstBytes, zeroAheadBytes_);
    if (f.diskSize >= end + f.zeroStep / 2) return false;  // more than half a step still ahead
    uint64_t now = NowNs();
    // half a step used up within 200 ms: a faster file, bigger steps (fewer journal commits)
    if (f.lastZeroNs != 0 && now - f.lastZeroNs < kZeroAheadGrowNs) f.zeroStep = std::min(f.zeroStep * 2, zeroAheadBytes_);
    uint64_t to = AlignUp(end + f.zeroStep, f.align);
    int64_t want = static_cast<int64_t>(to - f.diskSize);
    if (zeroBudget_.fetch_sub(want) < want) {  // a heavy round, or this round's zeros spent: a later round
      zeroBudget_.fetch_add(want);
      return false;
    }
    f.lastZeroNs = now;
    if (!zl.owns_lock()) zl.lock();
    zeroAheadPending_++;
    f.zeroTo = to;
    f.zeroFrom = f.diskSize.load();
    return true;
  }

  // Writes a file's planned zeros ahead, from its current size (a data write that reached past zeroFrom meanwhile
  // has moved it) up to zeroTo. Data writes that end before zeroFrom run beside it; the others wait on zeroMu. A
  // failed zero write leaves the data alone (it lies past the logical end): the file just stops zeroing ahead (how
  // much of it was written does not matter: close asks the file for its size). The zeros are not synced here: the
  // file's next sync carries them (one journal commit per step, as when they were written inside a round).
  void ZeroAheadWrite(File& f) {
    std::lock_guard<std::mutex> lock(f.zeroMu);
    uint64_t to = f.zeroTo;
    f.zeroTo = 0;
    if (to != 0 && f.error == 0 && !f.zeroOff) {
      zeroAheadWrites_++;
      while (f.diskSize < to) {
        uint64_t at = f.diskSize;
        size_t n = static_cast<size_t>(std::min<uint64_t>(to - at, kStagingBytes));
        if (PwriteAll(f, zeros_, n, at) != 0) {
          f.zeroOff = true;
          zeroAheadFailures_++;
          break;
        }
        f.diskSize = at + n;
        zeroAheadBytesWritten_ += n;
      }
    }
    if (to != 0) zeroAheadPending_--;
    f.zeroFrom = UINT64_MAX;
  }

  static int SyncParentDir(const std::string& path) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return errno;
    int rc = ::fsync(dfd) == 0 ? 0 : errno;
    ::close(dfd);
    return rc;
  }

  // Copies the tail block and the chunks into aligned staging and writes whole blocks at aligned positions.
  int WriteDirect(File& f, const std::vector<Chunk>& chunks, uint8_t* staging) {
    const uint64_t a = f.align;
    uint64_t pos = AlignDown(f.written, a);
    size_t tailLen = static_cast<size_t>(f.written - pos);
    if (!f.tailLoaded) {
      f.tail.clear();
      if (tailLen > 0) {
        int64_t got = PreadAll(f.fd, staging, static_cast<size_t>(a), pos);
        if (got < 0) return static_cast<int>(-got);
        if (static_cast<size_t>(got) < tailLen) return EIO;
        f.tail.assign(staging, staging + tailLen);
      }
      f.tailLoaded = true;
    }
    uint64_t total = 0;
    for (const Chunk& c : chunks) total += c.size;
    if (tailLen + total > kStagingBytes && !pool_.empty()) return WriteDirectSplit(f, chunks, staging, pos, total);
    std::memcpy(staging, f.tail.data(), tailLen);
    size_t used = tailLen;
    for (const Chunk& c : chunks) {
      const uint8_t* p = c.data;
      size_t left = c.size;
      while (left > 0) {
        size_t n = std::min(left, kStagingBytes - used);
        std::memcpy(staging + used, p, n);
        used += n;
        p += n;
        left -= n;
        if (used == kStagingBytes) {
          int e = Write(f, staging, used, pos);
          if (e != 0) return e;
          pos += used;
          used = 0;
        }
      }
    }
    if (used > 0) {
      size_t padded = static_cast<size_t>(AlignUp(used, a));
      std::memset(staging + used, 0, padded - used);
      int e = Write(f, staging, padded, pos);
      if (e != 0) return e;
    }
    size_t keep = used % a;
    f.tail.assign(staging + (used - keep), staging + used);
    f.written += total;
    return 0;
  }

  // One file's data of a round as a stream (the kept tail block, then the chunks) cut into staging-sized pieces;
  // piece i goes to file position pos + i * kStagingBytes (aligned: the stream starts at an aligned position and
  // kStagingBytes is a multiple of every alignment). Double-buffered: the job's own thread writes the pieces in
  // order while a pool thread (the copier) copies the next ones into a ring of kRingSlots staging buffers, so
  // the memcpy of piece i+1 overlaps the direct write of piece i, and the writes stay back to back on one thread
  // (the file's extending direct writes serialize in the kernel anyway: ext4 takes the inode lock exclusively).
  // If no pool thread has started copying by the time the writer needs a piece, the writer cancels the copier and
  // copies the rest itself. Shared by pointer with the copier task, which may start late: it then sees
  // `cancelled` and touches neither the file nor the chunks.
  static constexpr size_t kRingSlots = 3;

  struct SplitWrite {
    File* file;
    uint64_t pos;
    uint64_t length;                   // stream bytes
    std::vector<const uint8_t*> data;  // stream parts
    std::vector<uint64_t> starts;      // stream offset of each part, increasing
    size_t pieces;
    uint8_t* ring[kRingSlots];
    // Guarded by mu:
    std::mutex mu;
    std::condition_variable cv;
    bool started = false;    // the copier runs: the writer waits for it
    bool cancelled = false;  // the copier must not start (or must stop): the writer copies itself
    bool copierDone = false;
    size_t copied = 1;       // pieces [0, copied) are in the ring (piece i in ring[i % kRingSlots]); 0: the writer's
    size_t written = 0;      // pieces [0, written) are written: their slots are free again
  };

  // Copies stream bytes [from, from + n) to dst.
  static void CopyStream(const SplitWrite& w, uint64_t from, size_t n, uint8_t* dst) {
    size_t part = static_cast<size_t>(std::upper_bound(w.starts.begin(), w.starts.end(), from) - w.starts.begin()) - 1;
    while (n > 0) {
      uint64_t partEnd = part + 1 < w.starts.size() ? w.starts[part + 1] : w.length;
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, partEnd - from));
      std::memcpy(dst, w.data[part] + (from - w.starts[part]), take);
      dst += take;
      from += take;
      n -= take;
      part++;
    }
  }

  // Piece i copied and zero-padded into dst; returns its padded length.
  static size_t CopyPiece(const SplitWrite& w, size_t i, uint8_t* dst) {
    uint64_t from = static_cast<uint64_t>(i) * kStagingBytes;
    size_t n = static_cast<size_t>(std::min<uint64_t>(kStagingBytes, w.length - from));
    CopyStream(w, from, n, dst);
    size_t padded = static_cast<size_t>(AlignUp(n, w.file->align));
    std::memset(dst + n, 0, padded - n);
    return padded;
  }

  void CopierTask(SplitWrite& w) {
    {
      std::lock_guard<std::mutex> lock(w.mu);
      if (w.cancelled) return;
      w.started = true;
    }
    for (size_t i = 1; i < w.pieces; i++) {  // the writer copies piece 0 itself while this thread starts
      {
        std::unique_lock<std::mutex> lock(w.mu);
        // slot i % kRingSlots is free once piece i - kRingSlots is written
        w.cv.wait(lock, [&] { return w.cancelled || i < w.written + kRingSlots; });
        if (w.cancelled) break;
      }
      CopyPiece(w, i, w.ring[i % kRingSlots]);
      piecesByHelpers_++;
      {
        std::lock_guard<std::mutex> lock(w.mu);
        w.copied = i + 1;
      }
      w.cv.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(w.mu);
      w.copierDone = true;
    }
    w.cv.notify_all();
  }

  int WriteDirectSplit(File& f, const std::vector<Chunk>& chunks, uint8_t* staging, uint64_t pos, uint64_t total) {
    auto w = std::make_shared<SplitWrite>();
    w->file = &f;
    w->pos = pos;
    uint64_t off = 0;
    w->data.reserve(chunks.size() + 1);
    w->starts.reserve(chunks.size() + 1);
    if (!f.tail.empty()) {
      w->data.push_back(f.tail.data());
      w->starts.push_back(0);
      off = f.tail.size();
    }
    for (const Chunk& c : chunks) {
      if (c.size == 0) continue;
      w->data.push_back(c.data);
      w->starts.push_back(off);
      off += c.size;
    }
    w->length = off;
    w->pieces = static_cast<size_t>((off + kStagingBytes - 1) / kStagingBytes);
    w->ring[0] = staging;
    for (size_t k = 1; k < kRingSlots; k++) w->ring[k] = TakeRingBuffer();
    splitJobs_++;
    splitPieces_ += w->pieces;
    Help(1, [this, w](uint8_t*) { CopierTask(*w); });
    int err = 0;
    bool selfCopy = false;  // set when no copier started in time: the writer copies every piece from then on
    for (size_t i = 0; i < w->pieces && err == 0; i++) {
      uint8_t* buf = w->ring[i % kRingSlots];
      size_t padded;
      if (i > 0 && !selfCopy) {
        std::unique_lock<std::mutex> lock(w->mu);
        if (!w->started) {
          w->cancelled = true;  // no pool thread free to copy: do it here, as an unsplit write would
          selfCopy = true;
        } else {
          w->cv.wait(lock, [&] { return w->copied > i; });
        }
      }
      if (i == 0 || selfCopy) {
        padded = CopyPiece(*w, i, buf);  // piece 0 always here, while the copier starts
      } else {
        padded = static_cast<size_t>(AlignUp(std::min<uint64_t>(kStagingBytes, w->length - i * kStagingBytes), f.align));
      }
      err = Write(f, buf, padded, pos + static_cast<uint64_t>(i) * kStagingBytes);
      {
        std::lock_guard<std::mutex> lock(w->mu);
        w->written = i + 1;
      }
      w->cv.notify_all();
    }
    {
      // The copier must be out of the chunks and the ring before they go.
      std::unique_lock<std::mutex> lock(w->mu);
      w->cancelled = true;
      w->cv.notify_all();
      w->cv.wait(lock, [&] { return !w->started || w->copierDone; });
    }
    if (err == 0) {
      // The new tail: the stream's last partial block.
      size_t keep = static_cast<size_t>(w->length % f.align);
      std::vector<uint8_t> tail(keep);
      if (keep > 0) CopyStream(*w, w->length - keep, keep, tail.data());
      f.tail.swap(tail);
      f.written += total;
    }
    for (size_t k = 1; k < kRingSlots; k++) GiveRingBuffer(w->ring[k]);
    return err;
  }

  // Aligned staging-sized buffers for the copier rings, kept for reuse (first-touch page faults on a fresh 1 MiB
  // buffer cost more than the copy).
  uint8_t* TakeRingBuffer() {
    {
      std::lock_guard<std::mutex> lock(ringMu_);
      if (!ringFree_.empty()) {
        uint8_t* b = ringFree_.back();
        ringFree_.pop_back();
        return b;
      }
    }
    auto* b = static_cast<uint8_t*>(AlignedAlloc(kStagingBytes));
    if (b == nullptr) std::abort();  // out of memory for 1 MiB: nothing sensible left to do
    return b;
  }

  void GiveRingBuffer(uint8_t* b) {
    std::lock_guard<std::mutex> lock(ringMu_);
    ringFree_.push_back(b);
  }

  int Write(File& f, const uint8_t* p, size_t n, uint64_t pos) {
    if (pos % f.align != 0 || n % f.align != 0 || reinterpret_cast<uintptr_t>(p) % kMemAlign != 0) unaligned_++;
    writes_++;
    bytesWritten_ += n;
    return PwriteAll(f, p, n, pos);
  }

  // Buffered fallback: pwritev straight from the caller's chunks.
  int WriteBuffered(File& f, const std::vector<Chunk>& chunks) {
    uint64_t pos = f.written;
    std::vector<struct iovec> iov;
    iov.reserve(std::min<size_t>(chunks.size(), kIovMax));
    size_t i = 0;
    while (i < chunks.size()) {
      iov.clear();
      size_t batch = 0;
      for (; i < chunks.size() && iov.size() < static_cast<size_t>(kIovMax); i++) {
        iov.push_back({const_cast<uint8_t*>(chunks[i].data), chunks[i].size});
        batch += chunks[i].size;
      }
      size_t first = 0;
      while (batch > 0) {
        ssize_t w = ::pwritev(f.fd, iov.data() + first, static_cast<int>(iov.size() - first), static_cast<off_t>(pos));
        if (w < 0) {
          if (errno == EINTR) continue;
          return errno;
        }
        if (w == 0) return EIO;
        writes_++;
        bytesWritten_ += static_cast<uint64_t>(w);
        pos += static_cast<uint64_t>(w);
        batch -= static_cast<size_t>(w);
        size_t adv = static_cast<size_t>(w);
        while (adv > 0 && first < iov.size()) {
          if (adv >= iov[first].iov_len) {
            adv -= iov[first].iov_len;
            first++;
          } else {
            iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + adv;
            iov[first].iov_len -= adv;
            adv = 0;
          }
        }
      }
    }
    f.written = pos;
    return 0;
  }

  // ---- completions ------------------------------------------------------------------------------------------

  void Post(const std::vector<Result>& results) {
    bool post = false;
    {
      std::lock_guard<std::mutex> lock(resMu_);
      results_.insert(results_.end(), results.begin(), results.end());
      if (!posted_) {
        post = posted_ = true;
        postedNs_ = NowNs();
      }
    }
    if (post) tsfn_.NonBlockingCall(this, [](Napi::Env env, Napi::Function cb, Engine* self) { self->Deliver(env, cb); });
  }

  void Deliver(Napi::Env env, Napi::Function cb) {
    std::vector<Result> batch;
    uint64_t postedNs;
    {
      std::lock_guard<std::mutex> lock(resMu_);
      batch.swap(results_);
      posted_ = false;
      postedNs = postedNs_;
    }
    uint64_t t0 = NowNs();
    deliverUs_.Record(t0 > postedNs ? (t0 - postedNs) / 1000 : 0);
    resultsPerCallback_.Record(batch.size());
    callbacks_++;
    resultsPosted_ += batch.size();
    // The results go into one Float64Array kept across callbacks (grown when a batch outgrows it): at a
    // completion per append (low rates) a new array each time was the engine's largest share of the JS heap's
    // garbage. JS reads it only during the call (the first `count` values).
    const size_t count = batch.size() * kResultFields;
    Napi::Float64Array arr;
    if (!delivering_ && count <= resultsCap_ && !resultsArr_.IsEmpty()) arr = resultsArr_.Value();
    if (arr.IsEmpty()) {
      const size_t cap = std::max<size_t>(count, kResultsKept * kResultFields);
      arr = Napi::Float64Array::New(env, cap);
      if (!delivering_ && !arr.IsEmpty() && arr.Data() != nullptr) {
        resultsArr_ = Napi::Reference<Napi::Float64Array>::New(arr, 1);
        resultsCap_ = cap;
      }
    }
    // A worker thread being torn down (a shard that died) can no longer create JS values: drop the results.
    if (arr.IsEmpty() || arr.Data() == nullptr) return;
    for (size_t i = 0; i < batch.size(); i++) {
      const Result& r = batch[i];
      double* d = arr.Data() + i * kResultFields;
      d[0] = r.id;
      d[1] = static_cast<double>(r.written);
      d[2] = static_cast<double>(r.synced);
      d[3] = r.error;
      d[4] = r.flags;
    }
    // Then: how many values are results; when the first of these results was posted and when this callback
    // began, ms on CLOCK_MONOTONIC (process.hrtime's clock; steady_clock is CLOCK_MONOTONIC on Linux).
    delivering_ = true;
    cb.Call({arr, Napi::Number::New(env, static_cast<double>(count)), Napi::Number::New(env, static_cast<double>(postedNs) / 1e6),
             Napi::Number::New(env, static_cast<double>(t0) / 1e6)});
    delivering_ = false;
    callbackUs_.Record(MicrosSince(t0));
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      stop_ = true;
    }
    cv_.notify_all();
    {
      std::lock_guard<std::mutex> lock(syncMu_);
    }
    syncTurnCv_.notify_all();
    {
      std::lock_guard<std::mutex> lock(prefetchMu_);
    }
    prefetchCv_.notify_all();
    if (prefetcher_.joinable()) prefetcher_.join();
    {
      // Taking the pool's lock orders the stop flag with a pool thread that is between its predicate check and
      // its wait, so the notify below cannot be lost.
      std::lock_guard<std::mutex> lock(poolMu_);
    }
    poolCv_.notify_all();
    for (auto& t : runners_) {
      if (t.joinable()) t.join();
    }
    for (auto& t : pool_) {
      if (t.joinable()) t.join();
    }
    tsfn_.Abort();
  }

  napi_env env_ = nullptr;
  bool envCleanedUp_ = false;
  int64_t flushDelayUs_ = 0;
  uint64_t flushBytesMax_ = 8 << 20;
  bool directOff_ = false;
  bool refuseDirect_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  uint32_t nextId_ = 1;
  std::unordered_map<uint32_t, std::shared_ptr<File>> files_;
  std::vector<std::shared_ptr<File>> dirty_;
  uint64_t queuedBytes_ = 0;

  // Rounds in flight: with pipelineRounds, two (one writing while the one before it syncs); else one runner
  // takes each round through both stages. Pipelining cuts the queue wait at moderate load (p50 -20%), but
  // makes rounds smaller under a steady stream (about half the appends per round at max load): more
  // fdatasyncs, callbacks and wake-ups, which cost a CPU-bound broker ~10% of its produce rate at 100 B
  // records on 2 vCPUs (docs/benchmarks.md). Off by default.
  static constexpr int kRunners = 2;
  int runnerCount_ = 1;
  std::thread runners_[kRunners];
  uint8_t* runnerStaging_[kRunners] = {};
  bool writing_ = false;     // guarded by mu_: a runner is taking or writing a round
  uint64_t nextTicket_ = 0;  // guarded by mu_: rounds in the order they were taken
  uint64_t syncTurn_ = 0;    // guarded by syncMu_: the round whose turn it is to sync and post
  std::vector<std::thread> pool_;
  std::mutex poolMu_;
  std::condition_variable poolCv_;
  std::deque<std::function<void(uint8_t*)>> poolTasks_;
  size_t poolBusy_ = 0;

  Napi::ThreadSafeFunction tsfn_;
  // Deliver's results array, reused (JS thread only); `delivering_` guards against a nested Deliver.
  static constexpr size_t kResultsKept = 256;
  Napi::Reference<Napi::Float64Array> resultsArr_;
  size_t resultsCap_ = 0;
  bool delivering_ = false;
  std::mutex resMu_;
  std::vector<Result> results_;
  bool posted_ = false;

  uint64_t firstQueuedNs_ = 0;  // guarded by mu_: when the first request not yet taken by a round was queued
  uint64_t postedNs_ = 0;       // guarded by resMu_: when the first undelivered result was posted

  std::mutex syncMu_;
  std::condition_variable syncTurnCv_;

  uint64_t readAheadBytes_ = kReadAheadBytesDefault;
  uint64_t zeroAheadBytes_ = kZeroAheadBytesDefault;
  uint8_t* zeros_ = nullptr;  // kStagingBytes of zeros, aligned: the source of every zero-ahead write
  std::atomic<int64_t> zeroBudget_{0};  // zeros the round now writing may still write ahead
  std::shared_ptr<std::atomic<int64_t>> readAheadBudget_ = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<BufferPool> readPool_ = std::make_shared<BufferPool>(kReadPoolIdleBytesMax);
  std::thread prefetcher_;
  std::mutex prefetchMu_;
  std::condition_variable prefetchCv_;
  std::deque<std::pair<std::shared_ptr<File>, std::shared_ptr<ReadBlock>>> prefetchQueue_;

  // Journal (openJournal): off while journalFd_ < 0. Positions are virtual (they only grow); an entry at vpos
  // lies at kJournalHeaderBytes + vpos % journalRing_. [journalVtail_, journalVpos_) holds the entries no
  // checkpoint has finished with. journalFd_, journalRing_, journalRoot_, journalFilesMin_ are set before any
  // round runs; the rest is guarded by jmu_ (journalVpos_ written by the sync stage only).
  int journalFd_ = -1;
  uint64_t journalRing_ = 0;
  std::string journalRoot_;
  size_t journalFilesMin_ = 4;
  uint64_t checkpointIntervalNs_ = 1'000'000'000;  // a dirty journal is checkpointed at least this often
  uint8_t* journalBuf_ = nullptr;        // one entry, built and written by the sync stage
  uint8_t* journalHeaderBuf_ = nullptr;  // checkpoints (one at a time) and openJournal
  std::mutex jmu_;
  std::condition_variable jcv_;
  uint64_t journalVpos_ = 0;
  uint64_t journalVtail_ = 0;
  bool journalFailed_ = false;
  bool journalRetired_ = false;  // failed, every entry's file synced since, and the journal unlinked
  bool journalRetireRan_ = false;
  int journalError_ = 0;                 // the first failure's errno
  std::atomic<int> journalEvent_{0};     // set once RetireJournal ran: the next round tells JS (kJournalFailed)
  std::string journalPath_;
  bool ckptRunning_ = false;
  bool wantCheckpointSoon_ = false;
  uint64_t lastCheckpointNs_ = 0;
  std::vector<std::shared_ptr<File>> jDirty_;
  std::vector<std::shared_ptr<File>> ckptFiles_;
  std::vector<std::shared_ptr<File>> jKept_;  // entries live only in the journal: their files' syncs failed
  uint64_t checkpointRequests_ = 0;  // guarded by mu_: checkpoint() calls not yet taken by a round

  std::mutex ringMu_;
  std::vector<uint8_t*> ringFree_;  // guarded by ringMu_; freed with the engine

  std::atomic<uint64_t> rounds_{0}, writes_{0}, bytesWritten_{0}, syncs_{0}, callbacks_{0}, resultsPosted_{0},
      unaligned_{0}, splitJobs_{0}, splitPieces_{0}, piecesByHelpers_{0}, diskReads_{0}, readAheadHits_{0},
      readAheadWaits_{0}, readAheadMisses_{0}, readAheadBytesRead_{0}, readAheadCopiedBytes_{0},
      readAheadOverBudget_{0}, syncBatches_{0}, zeroAheadWrites_{0}, zeroAheadBytesWritten_{0}, zeroAheadFailures_{0},
      zeroAheadPending_{0}, journalEntries_{0}, journalRecords_{0}, journalBytes_{0}, journalSyncs_{0}, journalSkippedFull_{0},
      checkpoints_{0}, checkpointSyncs_{0};
  Histogram fileLatencyUs_, queueWaitUs_, syncWaitUs_, roundUs_, writeUs_, syncUs_, deliverUs_, callbackUs_, filesPerRound_, resultsPerCallback_;
};

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) { exports.Set("Engine", Engine::Define(env)); }

}  // namespace tern
