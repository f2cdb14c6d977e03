/*
 * The benchmark floor: the smallest program that does what a plugin must do
 * before Nomad can use it. It binds a Unix socket, prints go-plugin's
 * handshake line, and answers gRPC requests over HTTP/2 (h2c) with canned
 * responses, in one thread, with no allocator use after start.
 *
 * Its launch time and memory are what no plugin can beat on a machine; the
 * benchmark reports every plugin's figures as a ratio to this program's.
 * It is not a plugin and must never be shipped as one: it does not decode
 * requests beyond what it needs, and it answers every RPC alike.
 *
 * Responses: a request whose message is go-plugin's health check
 * (`HealthCheckRequest{service: "plugin"}`) gets `SERVING`; any other
 * request gets an empty message, which decodes as the default value of
 * every protobuf message type. SIGTERM removes the socket and ends it.
 *
 * Build: cc -static -Os -s -o floor floor.c
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_FRAME (16384 + 9)

struct conn {
    int fd;
    unsigned char buf[MAX_FRAME * 2];
    size_t len;
    int preface_done;
    /* The request message of each open stream is at most this long here. */
    unsigned char body[64];
    size_t body_len;
    unsigned int body_stream;
};

static struct conn conns[MAX_CONNS];
static struct sockaddr_un addr;

/* SIGTERM: remove the socket file, as a plugin must, and exit. */
static void on_term(int sig) {
    (void)sig;
    unlink(addr.sun_path);
    _exit(0);
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void frame_header(unsigned char *h, size_t len, int type, int flags, unsigned int stream) {
    h[0] = (unsigned char)(len >> 16);
    h[1] = (unsigned char)(len >> 8);
    h[2] = (unsigned char)len;
    h[3] = (unsigned char)type;
    h[4] = (unsigned char)flags;
    h[5] = (unsigned char)(stream >> 24) & 0x7f;
    h[6] = (unsigned char)(stream >> 16);
    h[7] = (unsigned char)(stream >> 8);
    h[8] = (unsigned char)stream;
}

static int send_frame(int fd, int type, int flags, unsigned int stream,
                      const unsigned char *payload, size_t len) {
    unsigned char out[9 + 64];
    frame_header(out, len, type, flags, stream);
    memcpy(out + 9, payload, len);
    return write_all(fd, out, 9 + len);
}

/* HPACK: ":status: 200" (static index 8), then content-type (static name
 * index 31) as a literal without indexing, so no dynamic table is needed. */
static const unsigned char RESPONSE_HEADERS[] = {
    0x88, 0x0f, 0x10, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'g', 'r', 'p', 'c',
};
/* Trailers: "grpc-status: 0" as a literal without indexing, new name. */
static const unsigned char TRAILERS[] = {
    0x00, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u', 's', 1, '0',
};
static const unsigned char HEALTH_REQUEST[] = {0x0a, 6, 'p', 'l', 'u', 'g', 'i', 'n'};

static int respond(struct conn *c, unsigned int stream) {
    /* gRPC message: compression flag, 4-byte length, protobuf bytes. */
    unsigned char serving[] = {0, 0, 0, 0, 2, 0x08, 0x01};
    unsigned char empty[] = {0, 0, 0, 0, 0};
    int health = c->body_stream == stream && c->body_len == 5 + sizeof HEALTH_REQUEST &&
                 memcmp(c->body + 5, HEALTH_REQUEST, sizeof HEALTH_REQUEST) == 0;
    c->body_len = 0;
    if (send_frame(c->fd, 1, 0x4, stream, RESPONSE_HEADERS, sizeof RESPONSE_HEADERS) < 0) return -1;
    if (health) {
        if (send_frame(c->fd, 0, 0, stream, serving, sizeof serving) < 0) return -1;
    } else {
        if (send_frame(c->fd, 0, 0, stream, empty, sizeof empty) < 0) return -1;
    }
    return send_frame(c->fd, 1, 0x5, stream, TRAILERS, sizeof TRAILERS);
}

/* Handles every complete frame in the buffer; -1 closes the connection. */
static int process(struct conn *c) {
    size_t off = 0;
    if (!c->preface_done) {
        if (c->len < 24) return 0;
        if (memcmp(c->buf, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) != 0) return -1;
        off = 24;
        c->preface_done = 1;
        if (send_frame(c->fd, 4, 0, 0, NULL, 0) < 0) return -1; /* our SETTINGS */
    }
    while (c->len - off >= 9) {
        const unsigned char *h = c->buf + off;
        size_t flen = ((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2];
        int type = h[3], flags = h[4];
        unsigned int stream = ((unsigned int)(h[5] & 0x7f) << 24) | ((unsigned int)h[6] << 16) |
                              ((unsigned int)h[7] << 8) | h[8];
        const unsigned char *p = h + 9;
        if (flen > MAX_FRAME - 9) return -1;
        if (c->len - off < 9 + flen) break;
        switch (type) {
        case 0: /* DATA: keep the request message, give the window back */
            if (flen > 0) {
                unsigned char inc[4] = {(unsigned char)(flen >> 24) & 0x7f, (unsigned char)(flen >> 16),
                                        (unsigned char)(flen >> 8), (unsigned char)flen};
                if (send_frame(c->fd, 8, 0, 0, inc, 4) < 0) return -1;
                if (flen <= sizeof c->body) {
                    memcpy(c->body, p, flen);
                    c->body_len = flen;
                    c->body_stream = stream;
                }
            }
            if (flags & 0x1 && respond(c, stream) < 0) return -1;
            break;
        case 1: /* HEADERS: a request without a body ends here */
            if (flags & 0x1 && respond(c, stream) < 0) return -1;
            break;
        case 4: /* SETTINGS: acknowledge the peer's */
            if (!(flags & 0x1) && send_frame(c->fd, 4, 0x1, 0, NULL, 0) < 0) return -1;
            break;
        case 6: /* PING: answer it */
            if (!(flags & 0x1) && flen == 8 && send_frame(c->fd, 6, 0x1, 0, p, 8) < 0) return -1;
            break;
        case 7: /* GOAWAY */
            return -1;
        default: /* WINDOW_UPDATE, PRIORITY, RST_STREAM, CONTINUATION: nothing to do */
            break;
        }
        off += 9 + flen;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return 0;
}

int main(void) {
    const char *dir = getenv("PLUGIN_UNIX_SOCKET_DIR");
    if (!dir || !*dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    signal(SIGTERM, on_term);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s/plugin%d", dir, (int)getpid()) >=
        (int)sizeof addr.sun_path) {
        fprintf(stderr, "socket path too long\n");
        return 1;
    }
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 64) < 0) {
        perror("floor: listen");
        return 1;
    }
    printf("1|2|unix|%s|grpc|\n", addr.sun_path);
    fflush(stdout);

    struct pollfd fds[MAX_CONNS + 1];
    for (;;) {
        int n = 0;
        fds[n].fd = lfd;
        fds[n++].events = POLLIN;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd > 0) {
                fds[n].fd = conns[i].fd;
                fds[n++].events = POLLIN;
            }
        }
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents & POLLIN) {
            int cfd = accept(lfd, NULL, NULL);
            for (int i = 0; cfd >= 0 && i < MAX_CONNS; i++) {
                if (conns[i].fd <= 0) {
                    memset(&conns[i], 0, sizeof conns[i]);
                    conns[i].fd = cfd;
                    cfd = -1;
                }
            }
            if (cfd >= 0) close(cfd);
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            if (c->fd <= 0) continue;
            int ready = 0;
            for (int j = 1; j < n; j++)
                if (fds[j].fd == c->fd && fds[j].revents) ready = 1;
            if (!ready) continue;
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r > 0) c->len += (size_t)r;
            if (r <= 0 || process(c) < 0) {
                close(c->fd);
                c->fd = 0;
            }
        }
    }
    unlink(addr.sun_path);
    return 0;
}
