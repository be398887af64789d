// Cross-thread sharing of ArrayBuffer memory between the shards' isolates (see share.cc).
#pragma once

#include <napi.h>

namespace tern {

void InitShare(Napi::Env env, Napi::Object exports);

}  // namespace tern
