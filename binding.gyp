{
  "targets": [
    {
      "target_name": "tern_native",
      "sources": ["native/addon.cc", "native/crc32c.cc", "native/engine.cc", "native/net.cc", "native/share.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-std=c++17"],
      "conditions": [
        ["target_arch=='x64'", { "cflags_cc": ["-msse4.2"] }]
      ]
    }
  ]
}
