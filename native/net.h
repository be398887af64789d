// SO_REUSEPORT listeners: every shard binds the Kafka port itself and the kernel spreads connections.
#pragma once

#include <napi.h>

namespace tern {

void InitNet(Napi::Env env, Napi::Object exports);

}  // namespace tern
