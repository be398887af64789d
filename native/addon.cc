// tern_native: the thin native layer (see ../shared/design.md). Syscalls and hot loops on memory the
// caller owns; policy stays in TypeScript. Functions take Uint8Array views and never keep them,
// except the log engine (engine.cc), whose caller keeps appended buffers alive until they are written, and
// shareExport (share.cc), which holds a view's memory until another shard takes it.
#include <napi.h>

#include "crc32c.h"
#include "engine.h"
#include "net.h"
#include "share.h"

namespace {

// crc32c(data: Uint8Array, crc?: number): number
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "crc32c: expected a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  uint32_t seed = 0;
  if (info.Length() > 1 && info[1].IsNumber()) seed = info[1].As<Napi::Number>().Uint32Value();
  uint32_t crc = tern::crc32c(seed, arr.Data(), arr.ByteLength());
  return Napi::Number::New(env, crc);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(env, Crc32c, "crc32c"));
  exports.Set("crc32cHardware", Napi::Boolean::New(env, tern::crc32c_hardware()));
  tern::InitEngine(env, exports);
  tern::InitNet(env, exports);
  tern::InitShare(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tern_native, Init)
