// Hands record bytes from one shard's isolate to another's without copying them.
//
// Every shard is a worker_thread with its own V8 isolate; a Buffer of one cannot be used by another. But the
// memory under a Buffer is a V8 BackingStore, reference-counted and independent of the isolate that made it: a
// worker's isolate is created with a shared_ptr to its ArrayBuffer allocator, which every BackingStore it
// allocates holds (this is how postMessage transfers an ArrayBuffer to a thread that outlives the sender). So a
// BackingStore can back ArrayBuffers in two isolates at once, and the memory lives until the last one is
// collected, whichever thread that is on and even after the isolate that allocated it is gone.
//
//   shareTag() -> tag                          a fresh tag for one sender (a ShardLink)
//   shareExport(tag, views[]) -> Uint32Array   an id per view (0: not exported); holds its BackingStore
//   shareImport(ids) -> (Buffer | null)[]      takes each entry: a Buffer over the same memory in this isolate
//   shareDrop(tag) -> count                    drops the tag's entries nobody imported (the peer is gone)
//   shareStats() -> { entries, bytes }
//
// Only memory the allocator owns may be exported. An external buffer (one a native addon made over its own
// memory, such as the engine's read blocks) is freed by its maker's environment at teardown even while another
// isolate still holds the BackingStore, so the JS side exports only memory it knows V8 allocated (socket reads,
// and Buffers imported here; src/shard/share.ts). SharedArrayBuffer memory is refused here.
//
// An entry lives from export to import. Entries nobody takes are dropped by their tag (the link closed) or, when
// the exporting environment is torn down, by its cleanup hook.
#include "share.h"

// node.h's headers define NAPI_VERSION as the runtime's; this addon builds against the one binding.gyp names.
#pragma push_macro("NAPI_VERSION")
#undef NAPI_VERSION
#include <node_buffer.h>
#include <v8.h>
#pragma pop_macro("NAPI_VERSION")

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace tern {
namespace {

struct Entry {
  std::shared_ptr<v8::BackingStore> store;
  size_t offset = 0;
  size_t length = 0;
  uint32_t tag = 0;
  napi_env env = nullptr;
};

std::mutex mu;
std::unordered_map<uint32_t, Entry> entries;  // guarded by mu
std::unordered_set<napi_env> hooked;          // guarded by mu: environments with a cleanup hook
size_t entryBytes = 0;                        // guarded by mu
uint32_t nextId = 1;                          // guarded by mu; 0 is "not exported"
std::atomic<uint32_t> nextTag{1};

// N-API values are V8 handles (node's own js_native_api_v8.h converts them the same way).
template <typename T>
v8::Local<T> ToV8(napi_value v) {
  v8::Local<T> out;
  static_assert(sizeof(out) == sizeof(v), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&out), &v, sizeof(v));
  return out;
}

napi_value FromV8(v8::Local<v8::Value> v) {
  napi_value out;
  std::memcpy(&out, static_cast<void*>(&v), sizeof(out));
  return out;
}

void DropEnv(void* arg) {
  auto env = static_cast<napi_env>(arg);
  std::lock_guard<std::mutex> g(mu);
  hooked.erase(env);
  for (auto it = entries.begin(); it != entries.end();) {
    if (it->second.env == env) {
      entryBytes -= it->second.length;
      it = entries.erase(it);
    } else {
      ++it;
    }
  }
}

Napi::Value ShareTag(const Napi::CallbackInfo& info) {
  uint32_t tag = nextTag.fetch_add(1);
  if (tag == 0) tag = nextTag.fetch_add(1);
  return Napi::Number::New(info.Env(), tag);
}

Napi::Value ShareExport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "shareExport(tag, views[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t tag = info[0].As<Napi::Number>().Uint32Value();
  auto list = info[1].As<Napi::Array>();
  uint32_t n = list.Length();
  auto ids = Napi::Uint32Array::New(env, n);
  // The views' stores are taken first, outside the lock: reading the array runs V8 code (and the other shards
  // wait on this lock for their own exports and imports).
  std::vector<std::pair<uint32_t, Entry>> taken;
  taken.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = list.Get(i);
    ids[i] = 0;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) continue;
    auto view = ToV8<v8::Uint8Array>(v);
    auto store = view->Buffer()->GetBackingStore();
    if (!store || store->IsShared() || store->Data() == nullptr) continue;
    size_t offset = view->ByteOffset();
    size_t length = view->ByteLength();
    if (offset + length > store->ByteLength()) continue;
    taken.emplace_back(i, Entry{std::move(store), offset, length, tag, env});
  }
  std::lock_guard<std::mutex> g(mu);
  if (hooked.insert(env).second) napi_add_env_cleanup_hook(env, DropEnv, env);
  for (auto& [i, e] : taken) {
    while (nextId == 0 || entries.count(nextId) != 0) nextId++;  // after a wrap, past ids still waiting
    uint32_t id = nextId++;
    entryBytes += e.length;
    entries[id] = std::move(e);
    ids[i] = id;
  }
  return ids;
}

Napi::Value ShareImport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(env, "shareImport(ids: Uint32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto ids = info[0].As<Napi::Uint32Array>();
  size_t n = ids.ElementLength();
  auto out = Napi::Array::New(env, n);
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  for (size_t i = 0; i < n; i++) {
    Entry e;
    bool found = false;
    {
      std::lock_guard<std::mutex> g(mu);
      auto it = entries.find(ids[i]);
      if (it != entries.end()) {
        e = std::move(it->second);
        entries.erase(it);
        entryBytes -= e.length;
        found = true;
      }
    }
    if (!found) {
      out.Set(static_cast<uint32_t>(i), env.Null());
      continue;
    }
    v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, std::move(e.store));
    v8::Local<v8::Object> buf;
    if (!node::Buffer::New(isolate, ab, e.offset, e.length).ToLocal(&buf)) return env.Undefined();  // a pending exception
    out.Set(static_cast<uint32_t>(i), Napi::Value(env, FromV8(buf)));
  }
  return out;
}

Napi::Value ShareDrop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "shareDrop(tag)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t tag = info[0].As<Napi::Number>().Uint32Value();
  uint32_t dropped = 0;
  std::lock_guard<std::mutex> g(mu);
  for (auto it = entries.begin(); it != entries.end();) {
    if (it->second.tag == tag) {
      entryBytes -= it->second.length;
      it = entries.erase(it);
      dropped++;
    } else {
      ++it;
    }
  }
  return Napi::Number::New(env, dropped);
}

Napi::Value ShareStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  std::lock_guard<std::mutex> g(mu);
  o.Set("entries", Napi::Number::New(env, static_cast<double>(entries.size())));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(entryBytes)));
  return o;
}

}  // namespace

void InitShare(Napi::Env env, Napi::Object exports) {
  exports.Set("shareTag", Napi::Function::New(env, ShareTag, "shareTag"));
  exports.Set("shareExport", Napi::Function::New(env, ShareExport, "shareExport"));
  exports.Set("shareImport", Napi::Function::New(env, ShareImport, "shareImport"));
  exports.Set("shareDrop", Napi::Function::New(env, ShareDrop, "shareDrop"));
  exports.Set("shareStats", Napi::Function::New(env, ShareStats, "shareStats"));
}

}  // namespace tern
