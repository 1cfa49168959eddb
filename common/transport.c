/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "macro.h"
#include "transport.h"

int tlsd_send_packet(int fd, const void *buf, size_t size, const int *fds, unsigned n_fds) {
        union {
                struct cmsghdr cmsg;
                uint8_t raw[CMSG_SPACE(sizeof(int) * TLSD_FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (n_fds > TLSD_FDS_MAX)
                return -EINVAL;
        if (n_fds > 0) {
                struct cmsghdr *c;

                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }

        do
                n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        if ((size_t) n != size)
                return -EIO; /* a SOCK_SEQPACKET send is all or nothing */
        return 0;
}

ssize_t tlsd_recv_packet(int fd, void *buf, size_t bufsize, int fds[TLSD_FDS_MAX],
                         unsigned *ret_n_fds, bool *ret_fds_truncated) {
        union {
                struct cmsghdr cmsg;
                uint8_t raw[CMSG_SPACE(sizeof(int) * TLSD_FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = bufsize };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        unsigned n_fds = 0;
        ssize_t n;

        do
                n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        if (n == 0) {
                /* Zero bytes is either an empty packet or the peer's hang-up. */
                struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

                if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP)))
                        return -ESHUTDOWN;
        }

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int f;

                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (n_fds < TLSD_FDS_MAX)
                                fds[n_fds++] = f;
                        else
                                (void) safe_close(f);
                }
        }

        *ret_n_fds = n_fds;
        *ret_fds_truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
        return n;
}

void tlsd_close_fds(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}
