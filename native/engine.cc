// tern::Engine — the native log engine behind src/io/native-file.ts.
//
// Files are opened with O_DIRECT where the file system allows it (buffered I/O + fdatasync otherwise). Appends
// are queued from the JS thread as pointers into the caller's buffers (the caller keeps them alive until the
// bytes are reported written); a writer thread runs group-commit rounds:
//
//   1. wait for work; then up to flushDelayUs more while fewer than flushBytesMax bytes are queued;
//   2. take every dirty file's queue and requests (truncate, sync, close) as one round;
//   3. run one job per file, in parallel on ioThreads threads: copy the queued bytes behind the file's partly
//      filled tail block into an aligned staging buffer, pwrite it at the aligned position (the tail block is
//      rewritten, its padding is zeros past the logical end), then fdatasync if a sync was asked for;
//   4. post the round's results to JS in one callback (many appends complete per callback).
//
// Rounds are serialized, so a file's writer-side state is touched by one job at a time. Any failed syscall
// latches the file into an error state (no retry: after a failed write or fsync the file's contents are
// unknown); JS decides what that means for the partition. Writes and syncs go through libc's pwrite/pwritev/
// fdatasync so an LD_PRELOAD fault shim (../shared/fault-kit/failsync.c) can reach them.
//
// Policy (what to sync, when a file is done with, how errors are surfaced) lives in TypeScript.
#include "engine.h"

#include <fcntl.h>
#include <sys/stat.h>
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

enum ResultFlags : uint32_t { kSynced = 1, kClosed = 2, kTruncated = 4 };

struct Chunk {
  const uint8_t* data;
  size_t size;
  std::shared_ptr<std::vector<uint8_t>> owned;  // set when the bytes were copied at append
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

  // Writer side: touched only by the job running this file (rounds are serialized).
  uint64_t written = 0;   // logical bytes handed to the kernel
  uint64_t synced = 0;    // logical bytes known durable
  std::vector<uint8_t> tail;  // direct: bytes [written - written % align, written)
  bool tailLoaded = false;
  bool dirSynced = false;
  int error = 0;

  ~File() {
    if (fd >= 0) ::close(fd);
  }
};

struct Job {
  std::shared_ptr<File> file;
  std::vector<Chunk> chunks;
  int64_t truncateTo = -1;
  bool sync = false;
  bool close = false;
};

struct Result {
  uint32_t id;
  uint64_t written;
  uint64_t synced;
  int error;
  uint32_t flags;
};

void* AlignedAlloc(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, kMemAlign, bytes == 0 ? kMemAlign : bytes) != 0) return nullptr;
  return p;
}

uint64_t AlignDown(uint64_t v, uint64_t a) { return v - v % a; }
uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// pwrite until done; 0 or an errno. A short direct write that leaves the rest misaligned is an I/O error.
int PwriteAll(const File& f, const uint8_t* p, size_t n, uint64_t pos) {
  while (n > 0) {
    ssize_t w = ::pwrite(f.fd, p, n, static_cast<off_t>(pos));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    if (f.direct && static_cast<uint64_t>(w) % f.align != 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
    pos += static_cast<uint64_t>(w);
  }
  return 0;
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
                       });
  }

  // new Engine({ flushDelayUs, flushBytesMax, ioThreads, directIo: 'auto'|'off'|'refuse-for-test' }, onComplete)
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
    int ioThreads = static_cast<int>(num("ioThreads", 4));
    auto mode = opts.Get("directIo");
    std::string m = mode.IsString() ? mode.As<Napi::String>().Utf8Value() : "auto";
    directOff_ = m == "off";
    refuseDirect_ = m == "refuse-for-test";

    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tern-engine", 0, 1);
    tsfn_.Unref(env);
    staging_ = static_cast<uint8_t*>(AlignedAlloc(kStagingBytes));
    for (int i = 0; i < std::max(0, ioThreads - 1); i++) {
      pool_.emplace_back([this] { PoolLoop(); });
    }
    writer_ = std::thread([this] { WriterLoop(); });
    env_ = env;
    napi_add_env_cleanup_hook(env, &Engine::OnEnvCleanup, this);
  }

  ~Engine() override {
    // A collected engine must not leave its hook behind: it would run on freed memory at exit.
    if (!envCleanedUp_) napi_remove_env_cleanup_hook(env_, &Engine::OnEnvCleanup, this);
    Stop();
    std::free(staging_);
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
    f->written = f->synced = static_cast<uint64_t>(st.st_size);
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
      f->dirty = true;
      dirty_.push_back(f);
    }
  }

  // kick(): starts a round for everything queued. Requests only queue; JS kicks once per turn of its event loop,
  // so the appends and syncs of one turn (a produce request over many partitions) share a round.
  Napi::Value Kick(const Napi::CallbackInfo& info) {
    cv_.notify_one();
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
    MarkDirty(f);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    auto f = Find(info);
    if (!f) return info.Env().Undefined();
    f->wantClose = true;
    files_.erase(f->id);  // no more requests; the writer still holds it for this last round
    MarkDirty(f);
    return info.Env().Undefined();
  }

  class ReadWorker : public Napi::AsyncWorker {
   public:
    ReadWorker(Napi::Env env, std::shared_ptr<File> f, uint64_t pos, size_t len)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), f_(std::move(f)), pos_(pos),
          len_(len) {}
    ~ReadWorker() override { std::free(buf_); }
    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
      uint64_t start = pos_;
      size_t span = len_;
      if (f_->direct) {
        start = AlignDown(pos_, f_->align);
        span = static_cast<size_t>(AlignUp(pos_ + len_, f_->align) - start);
      }
      buf_ = static_cast<uint8_t*>(AlignedAlloc(span));
      if (buf_ == nullptr) {
        err_ = ENOMEM;
        return;
      }
      int64_t got = PreadAll(f_->fd, buf_, span, start);
      if (got < 0) {
        err_ = static_cast<int>(-got);
        return;
      }
      offset_ = static_cast<size_t>(pos_ - start);
      size_t have = static_cast<size_t>(got);
      avail_ = have > offset_ ? std::min(len_, have - offset_) : 0;
    }

    void OnOK() override {
      Napi::Env env = Env();
      if (err_ != 0) {
        auto e = Napi::Error::New(env, std::string("read ") + f_->path + ": " + std::strerror(err_));
        e.Set("errno", Napi::Number::New(env, -err_));
        deferred_.Reject(e.Value());
        return;
      }
      // Zero-copy: the Buffer is a view of the aligned block the kernel read into; freed by its finalizer.
      uint8_t* base = buf_;
      buf_ = nullptr;
      int64_t external = static_cast<int64_t>(avail_ + offset_);
      Napi::MemoryManagement::AdjustExternalMemory(env, external);
      auto out = Napi::Buffer<uint8_t>::New(env, base + offset_, avail_, [base, external](Napi::Env e, uint8_t*) {
        std::free(base);
        Napi::MemoryManagement::AdjustExternalMemory(e, -external);
      });
      if (out.IsEmpty()) {
        std::free(base);  // the environment is shutting down: nothing can read it
        return;
      }
      deferred_.Resolve(out);
    }

    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<File> f_;
    uint64_t pos_;
    size_t len_;
    uint8_t* buf_ = nullptr;
    size_t offset_ = 0;
    size_t avail_ = 0;
    int err_ = 0;
  };

  // read(id, position, length) -> Promise<Buffer>: up to `length` bytes, shorter at the end of the file.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    std::shared_ptr<File> f;
    {
      std::lock_guard<std::mutex> lock(mu_);
      f = Find(info);
    }
    if (!f) return info.Env().Undefined();
    uint64_t pos = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    size_t len = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
    auto* w = new ReadWorker(info.Env(), std::move(f), pos, len);
    auto p = w->Promise();
    w->Queue();
    return p;
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
    o.Set("rounds", Napi::Number::New(env, static_cast<double>(rounds_.load())));
    o.Set("writes", Napi::Number::New(env, static_cast<double>(writes_.load())));
    o.Set("bytesWritten", Napi::Number::New(env, static_cast<double>(bytesWritten_.load())));
    o.Set("syncs", Napi::Number::New(env, static_cast<double>(syncs_.load())));
    o.Set("callbacks", Napi::Number::New(env, static_cast<double>(callbacks_.load())));
    o.Set("results", Napi::Number::New(env, static_cast<double>(resultsPosted_.load())));
    o.Set("unalignedWrites", Napi::Number::New(env, static_cast<double>(unaligned_.load())));
    return o;
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  // ---- writer thread ----------------------------------------------------------------------------------------

  void WriterLoop() {
    for (;;) {
      std::vector<Job> jobs;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_.load() || !dirty_.empty(); });
        if (stop_) return;
        if (flushDelayUs_ > 0 && queuedBytes_ < flushBytesMax_) {
          auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(flushDelayUs_);
          cv_.wait_until(lock, until, [this] { return stop_.load() || queuedBytes_ >= flushBytesMax_; });
          if (stop_) return;
        }
        jobs.reserve(dirty_.size());
        for (auto& f : dirty_) {
          Job j;
          j.file = f;
          j.chunks.swap(f->queue);
          j.truncateTo = f->truncateTo;
          j.sync = f->wantSync;
          j.close = f->wantClose;
          f->queuedBytes = 0;
          f->truncateTo = -1;
          f->wantSync = f->wantClose = false;
          f->dirty = false;
          jobs.push_back(std::move(j));
        }
        dirty_.clear();
        queuedBytes_ = 0;
      }
      rounds_++;
      std::vector<Result> results(jobs.size());
      RunAll(jobs, results);
      Post(results);
    }
  }

  // Runs every job of a round: the writer takes a share itself, pool threads the rest.
  void RunAll(std::vector<Job>& jobs, std::vector<Result>& results) {
    if (jobs.size() == 1 || pool_.empty()) {
      for (size_t i = 0; i < jobs.size(); i++) results[i] = RunJob(jobs[i], staging_);
      return;
    }
    std::atomic<size_t> next{0};
    std::atomic<size_t> done{0};
    auto work = [&](uint8_t* staging) {
      for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
        results[i] = RunJob(jobs[i], staging);
        done.fetch_add(1);
      }
    };
    size_t helpers = std::min(pool_.size(), jobs.size() - 1);
    {
      std::lock_guard<std::mutex> lock(poolMu_);
      for (size_t h = 0; h < helpers; h++) poolTasks_.push_back(work);
    }
    poolCv_.notify_all();
    work(staging_);
    std::unique_lock<std::mutex> lock(poolMu_);
    poolTasks_.clear();  // helpers that never started: every job is done or running
    poolDoneCv_.wait(lock, [&] { return done.load() == jobs.size() && poolBusy_ == 0; });
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
      poolDoneCv_.notify_all();
    }
    std::free(staging);
  }

  Result RunJob(Job& j, uint8_t* staging) {
    File& f = *j.file;
    uint32_t flags = 0;
    if (f.error == 0 && j.truncateTo >= 0) {
      if (::ftruncate(f.fd, j.truncateTo) != 0) {
        f.error = errno;
      } else {
        f.written = static_cast<uint64_t>(j.truncateTo);
        f.synced = std::min(f.synced, f.written);
        f.tailLoaded = false;
        flags |= kTruncated;
      }
    }
    if (f.error == 0 && !j.chunks.empty()) {
      f.error = f.direct ? WriteDirect(f, j.chunks, staging) : WriteBuffered(f, j.chunks);
    }
    if (f.error == 0 && j.sync) {
      if (::fdatasync(f.fd) != 0) {
        f.error = errno;
      } else {
        syncs_++;
        if (f.created && !f.dirSynced) f.error = SyncParentDir(f.path);
        if (f.error == 0) {
          f.dirSynced = true;
          f.synced = f.written;
          flags |= kSynced;
        }
      }
    }
    if (j.close) {
      // Drop the zero padding of a direct file's last block so the file ends at its logical size.
      if (f.error == 0 && f.direct && f.written % f.align != 0) {
        if (::ftruncate(f.fd, static_cast<off_t>(f.written)) != 0 || ::fdatasync(f.fd) != 0) f.error = errno;
      }
      flags |= kClosed;
    }
    return Result{f.id, f.written, f.synced, f.error, flags};
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
    std::memcpy(staging, f.tail.data(), tailLen);
    size_t used = tailLen;
    uint64_t total = 0;
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
      total += c.size;
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
      if (!posted_) post = posted_ = true;
    }
    if (post) tsfn_.NonBlockingCall(this, [](Napi::Env env, Napi::Function cb, Engine* self) { self->Deliver(env, cb); });
  }

  void Deliver(Napi::Env env, Napi::Function cb) {
    std::vector<Result> batch;
    {
      std::lock_guard<std::mutex> lock(resMu_);
      batch.swap(results_);
      posted_ = false;
    }
    callbacks_++;
    resultsPosted_ += batch.size();
    auto arr = Napi::Float64Array::New(env, batch.size() * kResultFields);
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
    cb.Call({arr});
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
      // Taking the pool's lock orders the stop flag with a pool thread that is between its predicate check and
      // its wait, so the notify below cannot be lost.
      std::lock_guard<std::mutex> lock(poolMu_);
    }
    poolCv_.notify_all();
    if (writer_.joinable()) writer_.join();
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

  std::thread writer_;
  uint8_t* staging_ = nullptr;
  std::vector<std::thread> pool_;
  std::mutex poolMu_;
  std::condition_variable poolCv_;
  std::condition_variable poolDoneCv_;
  std::deque<std::function<void(uint8_t*)>> poolTasks_;
  size_t poolBusy_ = 0;

  Napi::ThreadSafeFunction tsfn_;
  std::mutex resMu_;
  std::vector<Result> results_;
  bool posted_ = false;

  std::atomic<uint64_t> rounds_{0}, writes_{0}, bytesWritten_{0}, syncs_{0}, callbacks_{0}, resultsPosted_{0},
      unaligned_{0};
};

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) { exports.Set("Engine", Engine::Define(env)); }

}  // namespace tern
