/* LD_PRELOAD shim for the benchmark's floor (bench/compare.sh): sets TCP_NODELAY on every
 * IPv4 socket before it connects, as russh (stoa's SSH client) does. The OpenSSH client sets
 * it only once the session starts, so on loopback its key exchange and authentication wait
 * for delayed ACKs (about 40 ms per `ssh … true` here). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
int connect(int fd, const struct sockaddr *a, socklen_t l) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "connect");
  int one = 1;
  if (a->sa_family == AF_INET) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return real(fd, a, l);
}
