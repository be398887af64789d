// listenReusePort(host, port, backlog) -> [fd, port]: a TCP socket with SO_REUSEADDR and SO_REUSEPORT, bound and
// listening, non-blocking, close-on-exec. Node adopts it with `server.listen({ fd })`, so each shard thread
// accepts on its own socket and no byte of the data path passes through another thread. Port 0 binds a free
// port; the returned port lets the other shards bind the same one.
#include "net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tern {
namespace {

Napi::Value ThrowErrno(Napi::Env env, int err, const std::string& what) {
  auto e = Napi::Error::New(env, what + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, -err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ListenReusePort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "listenReusePort(host, port, backlog)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int backlog = info[2].As<Napi::Number>().Int32Value();
  if (port < 0 || port > 65535) return ThrowErrno(env, EINVAL, "listenReusePort: port");

  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return ThrowErrno(env, EINVAL, "listenReusePort: host must be a numeric IPv4 or IPv6 address");
  }

  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, e, "setsockopt(SO_REUSEPORT)");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, e, "bind " + host + ":" + std::to_string(port));
  }
  if (::listen(fd, backlog) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, e, "listen");
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, e, "getsockname");
  }
  int boundPort = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                                    : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  auto out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fd));
  out.Set(1u, Napi::Number::New(env, boundPort));
  return out;
}

}  // namespace

void InitNet(Napi::Env env, Napi::Object exports) {
  exports.Set("listenReusePort", Napi::Function::New(env, ListenReusePort, "listenReusePort"));
}

}  // namespace tern
