// The log engine: direct-I/O appends with group commit, off the JS thread (see engine.cc).
#pragma once

#include <napi.h>

namespace tern {

// Registers the `Engine` class on `exports`.
void InitEngine(Napi::Env env, Napi::Object exports);

}  // namespace tern
