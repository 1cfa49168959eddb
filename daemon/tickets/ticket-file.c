/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The framing of tlsd's ticket state files, shared by the client ticket cache and the server
 * ticket keys: a header naming the file kind and version, the payload, a SHA-256 trailer;
 * bounds-checked readers and writers for the payload; strict reads (regular file, owner-only
 * mode, size cap) and atomic 0600 writes (temporary file, fsync, rename, fsync of the
 * directory). The layout is in ticket-file.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine-crypto.h"
#include "macro.h"
#include "tickets/ticket-file.h"

static void put_le(uint8_t *p, uint64_t v, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

void ticket_writer_begin(TicketWriter *w, const char magic[TICKET_FILE_MAGIC_SIZE],
                         uint32_t version, size_t max) {
        uint8_t header[TICKET_FILE_HEADER_SIZE] = {};

        *w = (TicketWriter){ .max = max };
        memcpy(header, magic, TICKET_FILE_MAGIC_SIZE);
        put_le(header + 8, version, 4);
        ticket_writer_put(w, header, sizeof(header)); /* count and size come in finish */
}

void ticket_writer_put(TicketWriter *w, const void *p, size_t n) {
        if (w->error < 0 || n == 0)
                return;
        if (n > w->max - w->size) {
                w->error = -EFBIG;
                return;
        }
        if (n > w->allocated - w->size) {
                /* Grow by copying, not realloc(): the old block is wiped, it may hold secrets. */
                size_t a = w->allocated ? w->allocated : 4096;
                uint8_t *d;

                while (a - w->size < n)
                        a = a > SIZE_MAX / 2 ? SIZE_MAX : a * 2;
                d = malloc(a);
                if (!d) {
                        w->error = -ENOMEM;
                        return;
                }
                if (w->data) {
                        memcpy(d, w->data, w->size);
                        explicit_bzero(w->data, w->allocated);
                        free(w->data);
                }
                w->data = d;
                w->allocated = a;
        }
        memcpy(w->data + w->size, p, n);
        w->size += n;
}

void ticket_writer_put_u16(TicketWriter *w, uint16_t v) {
        uint8_t b[2];

        put_le(b, v, sizeof(b));
        ticket_writer_put(w, b, sizeof(b));
}

void ticket_writer_put_u32(TicketWriter *w, uint32_t v) {
        uint8_t b[4];

        put_le(b, v, sizeof(b));
        ticket_writer_put(w, b, sizeof(b));
}

void ticket_writer_put_u64(TicketWriter *w, uint64_t v) {
        uint8_t b[8];

        put_le(b, v, sizeof(b));
        ticket_writer_put(w, b, sizeof(b));
}

int ticket_writer_finish(TicketWriter *w, uint32_t count, void **ret, size_t *ret_size) {
        uint8_t hash[TICKET_FILE_TRAILER_SIZE];
        int r = w->error;

        if (r >= 0 && w->max - w->size < TICKET_FILE_TRAILER_SIZE)
                r = -EFBIG;
        if (r >= 0) {
                put_le(w->data + 12, count, 4);
                put_le(w->data + 16, w->size - TICKET_FILE_HEADER_SIZE, 8);
                r = engine_sha256(w->data, w->size, hash);
        }
        if (r >= 0) {
                ticket_writer_put(w, hash, sizeof(hash));
                r = w->error;
        }
        if (r < 0) {
                ticket_writer_done(w);
                return r;
        }
        *ret = TAKE_PTR(w->data);
        *ret_size = w->size;
        *w = (TicketWriter){};
        return 0;
}

void ticket_writer_done(TicketWriter *w) {
        if (w->data)
                explicit_bzero(w->data, w->allocated);
        free(w->data);
        *w = (TicketWriter){};
}

const uint8_t *ticket_reader_get(TicketReader *r, size_t n) {
        const uint8_t *p = r->p;

        if (r->bad || n > r->left) {
                r->bad = true;
                return NULL;
        }
        r->p += n;
        r->left -= n;
        return p;
}

uint16_t ticket_reader_get_u16(TicketReader *r) {
        const uint8_t *p = ticket_reader_get(r, 2);

        return p ? (uint16_t) get_le(p, 2) : 0;
}

uint32_t ticket_reader_get_u32(TicketReader *r) {
        const uint8_t *p = ticket_reader_get(r, 4);

        return p ? (uint32_t) get_le(p, 4) : 0;
}

uint64_t ticket_reader_get_u64(TicketReader *r) {
        const uint8_t *p = ticket_reader_get(r, 8);

        return p ? get_le(p, 8) : 0;
}

int ticket_file_open(const void *buf, size_t size, const char magic[TICKET_FILE_MAGIC_SIZE],
                     uint32_t version, uint32_t *ret_count, TicketReader *ret_payload,
                     const char **ret_reason) {
        const uint8_t *b = buf;
        uint8_t hash[TICKET_FILE_TRAILER_SIZE];
        size_t payload;
        int r;

        if (size < TICKET_FILE_HEADER_SIZE + TICKET_FILE_TRAILER_SIZE) {
                *ret_reason = size == 0 ? "empty file" : "truncated header";
                return -EBADMSG;
        }
        if (memcmp(b, magic, TICKET_FILE_MAGIC_SIZE) != 0) {
                *ret_reason = "wrong magic (not this kind of tlsd state file)";
                return -EBADMSG;
        }
        if (get_le(b + 8, 4) != version) {
                *ret_reason = "unsupported format version";
                return -EBADMSG;
        }
        payload = size - TICKET_FILE_HEADER_SIZE - TICKET_FILE_TRAILER_SIZE;
        if (get_le(b + 16, 8) != payload) {
                *ret_reason = "payload size does not match the file size (truncated?)";
                return -EBADMSG;
        }
        r = engine_sha256(b, size - TICKET_FILE_TRAILER_SIZE, hash);
        if (r < 0)
                return r;
        if (memcmp(hash, b + size - TICKET_FILE_TRAILER_SIZE, sizeof(hash)) != 0) {
                *ret_reason = "checksum mismatch (corrupt)";
                return -EBADMSG;
        }
        *ret_count = (uint32_t) get_le(b + 12, 4);
        *ret_payload = (TicketReader){ .p = b + TICKET_FILE_HEADER_SIZE, .left = payload };
        return 0;
}

int ticket_file_read(const char *path, size_t max, void **ret, size_t *ret_size,
                     const char **ret_reason) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t size = 0, allocated;

        /* O_NONBLOCK: a FIFO planted here must not hang the daemon; it fails the checks below. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ELOOP) {
                        *ret_reason = "is a symbolic link";
                        return -EBADMSG;
                }
                return -errno;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) {
                *ret_reason = "not a regular file";
                return -EBADMSG;
        }
        /* It holds secrets: if others could read it they may be known, if others could write
         * it they may be planted. Either way, not ours to trust. */
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                *ret_reason = "accessible to group or others (must be 0600)";
                return -EBADMSG;
        }
        if ((uint64_t) st.st_size > max) {
                *ret_reason = "too large";
                return -EBADMSG;
        }
        /* Read to EOF, whatever st_size said (the file may be changing): a buffer of the size
         * seen plus one byte, grown if it fills, never past one byte over the cap. */
        allocated = (size_t) st.st_size + 1;
        buf = malloc(allocated);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (size == allocated) {
                        uint8_t *b;

                        if (size > max) {
                                explicit_bzero(buf, size);
                                *ret_reason = "too large";
                                return -EBADMSG;
                        }
                        allocated = allocated > max / 2 ? max + 1 : allocated * 2;
                        b = malloc(allocated);
                        if (!b) {
                                explicit_bzero(buf, size);
                                return -ENOMEM;
                        }
                        memcpy(b, buf, size);
                        explicit_bzero(buf, size);
                        free(buf);
                        buf = b;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        explicit_bzero(buf, size);
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* fsync() of the directory holding path, so the rename itself is durable. */
static int fsync_parent(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -EBADF;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = 0;
        else
                *slash = 0;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

int ticket_file_write(const char *path, const void *data, size_t size) {
        _cleanup_free_ char *tmp = NULL;
        int fd, r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        /* mkostemp() creates the file 0600 (less the umask); fchmod makes it exactly that. */
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fchmod(fd, 0600) < 0 ? -errno : 0;
        if (r >= 0)
                r = write_all(fd, data, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return fsync_parent(path);
}
