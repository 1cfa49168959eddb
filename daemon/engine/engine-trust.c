/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trust anchors: the CA certificates a policy verifies its peers against.
 *
 * A policy's own CAs are parsed into its WOLFSSL_CTX. The system store is different: every
 * client session that names no CA trusts it, so reading it per session (a walk over
 * /etc/ssl/certs and a parse of each file, ~10 ms, and ~70 KB of parsed certificates per
 * session) let one user's stream of Configure requests stall everyone. It is read once, into
 * one EngineSystemTrust the Manager owns: the certificates kept as DER, deduplicated, and
 * parsed once into a WOLFSSL_X509_STORE. A policy that trusts only the system store uses that
 * store by reference (wolfSSL_CTX_set_cert_store after wolfSSL_X509_STORE_up_ref: the context
 * drops its reference when freed, the store lives as long as anyone holds one) and never loads
 * anything into it. A policy that trusts the system store and CAs of its own gets a private
 * store filled from the DER copies: a parse, no file reads. The directory is read again when
 * its modification time changes (update-ca-certificates replaces files and links); policies
 * keep the snapshot they took.
 *
 * Everything here runs on the main loop thread.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine-internal.h"
#include "util/error-message.h"
#include "util/log.h"

/* Bounds on what the system directory can make the daemon read (Debian: ~300 entries, the
 * largest file the 220 KB bundle). */
#define SYSTEM_TRUST_FILES_MAX 8192
#define SYSTEM_TRUST_FILE_MAX (4u << 20)
#define SYSTEM_TRUST_CERTS_MAX 16384
#define SYSTEM_TRUST_CERT_MAX (64u << 10) /* DER; larger ones are skipped */

typedef struct TrustCert {
        uint8_t hash[WC_SHA256_DIGEST_SIZE]; /* of der: duplicates (file, hash link, bundle) */
        uint8_t *der;
        size_t size;
} TrustCert;

struct EngineSystemTrust {
        WOLFSSL_X509_STORE *store; /* NULL until first used; policies hold references */
        TrustCert *certs;          /* the same certificates, DER, for private stores */
        size_t n_certs;
        size_t n_loaded;       /* of them, those the library took as anchors */
        char *dir;             /* where they were read from */
        struct timespec mtime; /* of dir then */
};

static void certs_free(TrustCert *certs, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(certs[i].der);
        free(certs);
}

int engine_system_trust_new(EngineSystemTrust **ret) {
        EngineSystemTrust *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

EngineSystemTrust *engine_system_trust_free(EngineSystemTrust *t) {
        if (!t)
                return NULL;
        wolfSSL_X509_STORE_free(t->store); /* policies still holding it keep it alive */
        certs_free(t->certs, t->n_certs);
        free(t->dir);
        free(t);
        return NULL;
}

/* Growing array of certificates being read. */
typedef struct CertList {
        TrustCert *certs;
        size_t n, allocated;
} CertList;

static int cert_list_add(CertList *l, const uint8_t *der, size_t size) {
        TrustCert *c;

        if (l->n >= SYSTEM_TRUST_CERTS_MAX)
                return -E2BIG;
        if (l->n == l->allocated) {
                size_t n = l->allocated ? l->allocated * 2 : 256;
                TrustCert *a = reallocarray(l->certs, n, sizeof(*a));

                if (!a)
                        return -ENOMEM;
                l->certs = a;
                l->allocated = n;
        }
        c = &l->certs[l->n];
        c->der = malloc(size);
        if (!c->der)
                return -ENOMEM;
        memcpy(c->der, der, size);
        c->size = size;
        if (wc_Sha256Hash(der, (word32) size, c->hash) != 0) {
                free(c->der);
                return -EIO;
        }
        l->n++;
        return 0;
}

/* Every PEM certificate in buf, as DER. Text around the blocks is ignored, as the library's
 * directory loader ignores it. */
static int add_pem_certificates(CertList *l, const char *buf, size_t size, uint8_t *scratch,
                                size_t scratch_size) {
        static const char begin[] = "-----BEGIN CERTIFICATE-----";
        static const char end[] = "-----END CERTIFICATE-----";
        const char *p = buf, *e = buf + size;

        for (;;) {
                const char *b = memmem(p, (size_t) (e - p), begin, sizeof(begin) - 1), *f;
                int n;

                if (!b)
                        return 0;
                f = memmem(b, (size_t) (e - b), end, sizeof(end) - 1);
                if (!f)
                        return 0;
                f += sizeof(end) - 1;
                n = wc_CertPemToDer((const unsigned char *) b, (int) (f - b), scratch,
                                    (int) scratch_size, CERT_TYPE);
                if (n > 0) {
                        int r = cert_list_add(l, scratch, (size_t) n);

                        if (r < 0)
                                return r;
                }
                p = f;
        }
}

static int hash_cmp(const void *a, const void *b) {
        return memcmp(((const TrustCert *) a)->hash, ((const TrustCert *) b)->hash,
                      WC_SHA256_DIGEST_SIZE);
}

/* Reads the PEM certificates of every regular file in dir (links followed), deduplicated. */
static int read_directory(const char *dir, CertList *l) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        unsigned n_files = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = opendir(dir);
        if (!d)
                return -errno;
        buf = malloc(SYSTEM_TRUST_FILE_MAX);
        der = malloc(SYSTEM_TRUST_CERT_MAX);
        if (!buf || !der) {
                closedir(d);
                return -ENOMEM;
        }
        while (r >= 0 && (de = readdir(d))) {
                struct stat st;
                ssize_t n;
                size_t got = 0;
                int fd;

                if (de->d_name[0] == '.')
                        continue;
                if (++n_files > SYSTEM_TRUST_FILES_MAX) {
                        log_warning("System trust store %s: more than %u files, the rest ignored",
                                    dir, SYSTEM_TRUST_FILES_MAX);
                        break;
                }
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0)
                        continue; /* a dangling link, a directory we may not read: skipped */
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                    (size_t) st.st_size > SYSTEM_TRUST_FILE_MAX) {
                        safe_close(fd);
                        continue;
                }
                while (got < SYSTEM_TRUST_FILE_MAX &&
                       (n = read(fd, buf + got, SYSTEM_TRUST_FILE_MAX - got)) > 0)
                        got += (size_t) n;
                safe_close(fd);
                r = add_pem_certificates(l, buf, got, der, SYSTEM_TRUST_CERT_MAX);
        }
        closedir(d);
        if (r == -E2BIG) {
                log_warning("System trust store %s: more than %u certificates, the rest ignored",
                            dir, SYSTEM_TRUST_CERTS_MAX);
                r = 0;
        }
        if (r < 0)
                return r;

        /* Debian lists each certificate three times: its file, its hash link, the bundle. */
        if (l->n > 1) {
                size_t k = 1;

                qsort(l->certs, l->n, sizeof(*l->certs), hash_cmp);
                for (size_t i = 1; i < l->n; i++) {
                        if (hash_cmp(&l->certs[i], &l->certs[k - 1]) == 0)
                                free(l->certs[i].der);
                        else
                                l->certs[k++] = l->certs[i];
                }
                l->n = k;
        }
        return 0;
}

/* The certificates as anchors in cm; returns how many the library took (it refuses some, as
 * its own directory loader does: unsupported algorithms, for one). */
static size_t load_into(const TrustCert *certs, size_t n, WOLFSSL_CERT_MANAGER *cm) {
        size_t loaded = 0;

        for (size_t i = 0; i < n; i++)
                if (wolfSSL_CertManagerLoadCABuffer(cm, certs[i].der, (long) certs[i].size,
                                                    WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS)
                        loaded++;
        return loaded;
}

static bool same_time(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Reads the system store from the first of the library's system CA directories that holds
 * certificates. */
static int system_trust_read(EngineSystemTrust *t) {
        const char **dirs;
        word32 n_dirs = 0;

        dirs = wolfSSL_get_system_CA_dirs(&n_dirs);
        for (word32 i = 0; dirs && i < n_dirs; i++) {
                CertList l = {};
                WOLFSSL_X509_STORE *store;
                struct stat st;
                size_t loaded;
                char *dir;
                int r;

                if (stat(dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                r = read_directory(dirs[i], &l);
                if (r < 0 || l.n == 0) {
                        certs_free(l.certs, l.n);
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                store = wolfSSL_X509_STORE_new();
                dir = strdup(dirs[i]);
                if (!store || !dir) {
                        wolfSSL_X509_STORE_free(store);
                        free(dir);
                        certs_free(l.certs, l.n);
                        return -ENOMEM;
                }
                loaded = load_into(l.certs, l.n, store->cm);
                if (loaded == 0) {
                        wolfSSL_X509_STORE_free(store);
                        free(dir);
                        certs_free(l.certs, l.n);
                        continue;
                }
                wolfSSL_X509_STORE_free(t->store);
                certs_free(t->certs, t->n_certs);
                free(t->dir);
                t->store = store;
                t->certs = l.certs;
                t->n_certs = l.n;
                t->n_loaded = loaded;
                t->dir = dir;
                t->mtime = st.st_mtim;
                log_info("System trust store: %zu CA certificates from %s, shared by every "
                         "session that trusts it",
                         loaded, dir);
                return 0;
        }
        return -ENOENT;
}

/* The current snapshot: read at first use, again when the directory changed. A failed re-read
 * keeps the snapshot there is. */
static int system_trust_get(EngineSystemTrust *t, char *error) {
        struct stat st;
        int r;

        if (!t) {
                error_message_set(error, "no system trust store in this context");
                return -ENOENT;
        }
        if (t->store && stat(t->dir, &st) >= 0 && same_time(&st.st_mtim, &t->mtime))
                return 0;
        r = system_trust_read(t);
        if (r < 0 && t->store) {
                log_warning("System trust store %s changed but cannot be read again (%s): "
                            "keeping the certificates read before",
                            t->dir, strerror(-r));
                return 0;
        }
        if (r < 0) {
                error_message_set(error, "no usable system trust store (/etc/ssl/certs)");
                return r == -ENOMEM ? r : -ENOENT;
        }
        return 0;
}

unsigned engine_trust_count(const void *ca, size_t size) {
        static const char begin[] = "-----BEGIN ";
        const char *p = ca, *e = p + size;
        unsigned n = 0;

        if (!engine_looks_pem(ca, size))
                return 1; /* one DER certificate */
        while ((p = memmem(p, (size_t) (e - p), begin, sizeof(begin) - 1))) {
                n++;
                p += sizeof(begin) - 1;
        }
        return n;
}

/* Loads CA certificates into a context; wolfSSL's message when they do not parse. The common
 * mistakes get words of their own: the library calls an empty file "not valid DER" and a key
 * file "no PEM header". */
static int load_ca(WOLFSSL_CTX *ctx, const void *ca, size_t size, char *error) {
        int fmt = engine_looks_pem(ca, size) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
        int r;

        if (size == 0) {
                error_message_set(error, "CA file is empty");
                return -EKEYEXPIRED;
        }
        if (fmt == WOLFSSL_FILETYPE_PEM && memmem(ca, size, "PRIVATE KEY-----", 16) &&
            !memmem(ca, size, "-----BEGIN CERTIFICATE-----", 27)) {
                error_message_set(error, "CA file contains a private key, not a certificate");
                return -EKEYEXPIRED;
        }
        r = wolfSSL_CTX_load_verify_buffer(ctx, ca, (long) size, fmt);
        if (r != WOLFSSL_SUCCESS) {
                error_message_set(error, "CA certificates are not valid %s (%s)",
                                  fmt == WOLFSSL_FILETYPE_PEM ? "PEM" : "DER",
                                  wolfSSL_ERR_reason_error_string((unsigned long) r));
                return -EKEYEXPIRED;
        }
        return 0;
}

int engine_ctx_check_trust(EngineCtx *c, const void *ca, size_t size, char *error) {
        WOLFSSL_CTX *scratch;
        int r;

        /* A bundle the library refuses half way has its first certificates loaded already:
         * try it where that does not matter first. The same verification setting, since the
         * library checks a CA's own signature only when verifying. */
        scratch = wolfSSL_CTX_new(c->dtls ? wolfDTLS_client_method() : wolfSSLv23_client_method());
        if (!scratch)
                return -ENOMEM;
        wolfSSL_CTX_set_verify(scratch, c->verify_mode, NULL);
        r = load_ca(scratch, ca, size, error);
        wolfSSL_CTX_free(scratch);
        return r;
}

/* A context that used the shared system store gets a private one with the same system
 * certificates, so CAs of its own can be added without touching anyone else's trust. */
static int trust_unshare(EngineCtx *c) {
        EngineSystemTrust *t = c->system_trust;
        WOLFSSL_X509_STORE *own = wolfSSL_X509_STORE_new();

        if (!own)
                return -ENOMEM;
        (void) load_into(t->certs, t->n_certs, own->cm);
        wolfSSL_CTX_set_cert_store(c->ctx, own); /* takes our reference, drops the shared one */
        if (wolfSSL_CTX_get_cert_store(c->ctx) != own) {
                wolfSSL_X509_STORE_free(own);
                return -ENOMEM;
        }
        c->shares_system_trust = false;
        return 0;
}

int engine_ctx_add_trust(EngineCtx *c, const void *ca, size_t size, char *error) {
        int r;

        c->configured = true;
        if (c->shares_system_trust) {
                r = trust_unshare(c);
                if (r < 0)
                        return r;
        }
        r = load_ca(c->ctx, ca, size, error);
        if (r < 0)
                return r;
        c->has_own_trust = true;
        return 0;
}

int engine_ctx_check_system_trust(EngineCtx *c, char *error) {
        if (c->trusts_system)
                return 0;
        return system_trust_get(c->system_trust, error);
}

int engine_ctx_add_system_trust(EngineCtx *c, char *error) {
        EngineSystemTrust *t = c->system_trust;
        int r;

        if (c->trusts_system)
                return 0;
        r = system_trust_get(t, error);
        if (r < 0)
                return r;
        c->configured = true;
        if (c->has_own_trust) {
                /* Its store holds its own CAs: the system certificates join them there. */
                (void) load_into(t->certs, t->n_certs, wolfSSL_CTX_get_cert_store(c->ctx)->cm);
        } else {
                if (wolfSSL_X509_STORE_up_ref(t->store) != WOLFSSL_SUCCESS)
                        return -ENOMEM;
                wolfSSL_CTX_set_cert_store(c->ctx, t->store); /* the context owns that reference */
                if (wolfSSL_CTX_get_cert_store(c->ctx) != t->store) {
                        wolfSSL_X509_STORE_free(t->store);
                        error_message_set(error, "the TLS library refused the system trust store");
                        return -EIO;
                }
                c->shares_system_trust = true;
        }
        c->trusts_system = true;
        return 0;
}
