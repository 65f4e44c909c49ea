/*
 * vsock-echo: a guest-side test tool for Ignition (busybox has no vsock client).
 *
 *   vsock-echo PORT BYTES
 *
 * Connects to the host (CID 2) on PORT, sends back every byte it receives until it has echoed
 * BYTES, shuts down its sending side, waits for the host to close, and prints "echoed N".
 * Built static by the linux-guest tests: gcc -static -O2 -o vsock-echo vsock-echo.c
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536];

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: vsock-echo PORT BYTES\n");
        return 2;
    }
    unsigned int port = (unsigned int) strtoul(argv[1], NULL, 10);
    long long want = strtoll(argv[2], NULL, 10);
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (s < 0) {
        perror("socket(AF_VSOCK)");
        return 1;
    }
    struct sockaddr_vm a;
    memset(&a, 0, sizeof a);
    a.svm_family = AF_VSOCK;
    a.svm_cid = VMADDR_CID_HOST;
    a.svm_port = port;
    if (connect(s, (struct sockaddr *) &a, sizeof a) < 0) {
        perror("connect");
        return 1;
    }
    long long done = 0;
    while (done < want) {
        size_t room = sizeof buf;
        if (want - done < (long long) room) {
            room = (size_t) (want - done);
        }
        ssize_t n = read(s, buf, room);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("read");
            return 1;
        }
        if (n == 0) {
            fprintf(stderr, "end of stream after %lld of %lld bytes\n", done, want);
            return 1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(s, buf + off, (size_t) (n - off));
            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                perror("write");
                return 1;
            }
            off += w;
        }
        done += n;
    }
    shutdown(s, SHUT_WR);
    while (read(s, buf, sizeof buf) > 0) {
        /* wait for the host to close */
    }
    close(s);
    printf("echoed %lld\n", done);
    return 0;
}
