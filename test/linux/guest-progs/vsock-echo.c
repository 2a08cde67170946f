/*
 * A static RISC-V Linux program with no libc (the toolchain is bare-metal):
 *   vsock-echo l PORT   listen on AF_VSOCK PORT, accept one connection, send
 *                       back everything received until EOF, then exit
 *   vsock-echo c PORT   connect to the host (CID 2) on PORT, send
 *                       "hello from the guest\n", print what comes back
 * It prints "listening" once the socket listens, so a test knows when to connect.
 */
typedef unsigned long size_t;
typedef long ssize_t;

#define SYS_read 63
#define SYS_write 64
#define SYS_close 57
#define SYS_exit 93
#define SYS_socket 198
#define SYS_bind 200
#define SYS_listen 201
#define SYS_accept 202
#define SYS_connect 203
#define SYS_shutdown 210
#define AF_VSOCK 40
#define SOCK_STREAM 1
#define VMADDR_CID_ANY 0xffffffffu
#define VMADDR_CID_HOST 2

struct sockaddr_vm {
  unsigned short svm_family;
  unsigned short svm_reserved1;
  unsigned int svm_port;
  unsigned int svm_cid;
  unsigned char svm_flags;
  unsigned char svm_zero[3];
};

static long sys(long n, long a, long b, long c) {
  register long a7 __asm__("a7") = n;
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
  return a0;
}

static size_t len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void say(const char *s) { sys(SYS_write, 1, (long)s, (long)len(s)); }

static void die(const char *what, long err) {
  char num[24];
  int i = 23;
  unsigned long e = (unsigned long)(-err);
  num[i] = 0;
  do { num[--i] = '0' + e % 10; e /= 10; } while (e);
  say("vsock-echo: ");
  say(what);
  say(" failed, errno ");
  say(num + i);
  say("\n");
  sys(SYS_exit, 1, 0, 0);
}

static unsigned int atou(const char *s) {
  unsigned int v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (unsigned)(*s++ - '0');
  return v;
}

static char buf[65536];

static int run(int argc, char **argv) {
  if (argc < 3) { say("usage: vsock-echo l|c PORT\n"); return 2; }
  struct sockaddr_vm a = {0};
  a.svm_family = AF_VSOCK;
  a.svm_port = atou(argv[2]);
  long s = sys(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
  if (s < 0) die("socket", s);
  long r;
  if (argv[1][0] == 'l') {
    a.svm_cid = VMADDR_CID_ANY;
    if ((r = sys(SYS_bind, s, (long)&a, sizeof a)) < 0) die("bind", r);
    if ((r = sys(SYS_listen, s, 1, 0)) < 0) die("listen", r);
    say("listening\n");
    long c = sys(SYS_accept, s, 0, 0);
    if (c < 0) die("accept", c);
    for (;;) {
      long n = sys(SYS_read, c, (long)buf, sizeof buf);
      if (n < 0) die("read", n);
      if (n == 0) break;
      for (long off = 0; off < n;) {
        long w = sys(SYS_write, c, (long)buf + off, n - off);
        if (w < 0) die("write", w);
        off += w;
      }
    }
    sys(SYS_close, c, 0, 0);
    say("echo done\n");
    return 0;
  }
  a.svm_cid = VMADDR_CID_HOST;
  if ((r = sys(SYS_connect, s, (long)&a, sizeof a)) < 0) die("connect", r);
  const char *msg = "hello from the guest\n";
  sys(SYS_write, s, (long)msg, (long)len(msg));
  sys(SYS_shutdown, s, 1 /* SHUT_WR */, 0);
  for (;;) {
    long n = sys(SYS_read, s, (long)buf, sizeof buf);
    if (n <= 0) break;
    sys(SYS_write, 1, (long)buf, n);
  }
  return 0;
}

/* The kernel enters with sp at argc, then argv[]. */
__attribute__((used)) void start_c(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  sys(SYS_exit, run(argc, argv), 0, 0);
}

__asm__(".globl _start\n_start:\n  mv a0, sp\n  andi sp, sp, -16\n  call start_c\n");
