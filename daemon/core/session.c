/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sessions: validation of policy options, mapping to the engine, ownership.
 *
 * A Configure is all or nothing: every option is validated (the library-side ones on scratch
 * objects, see engine.h) before any is applied, so a refused one leaves the session, and its
 * policy hash, as they were. What a session may make the daemon hold is capped here, in the
 * core, for both control planes: trust anchors (MaxTrustAnchorsPerSession=,
 * MaxTrustBytesPerSession=), identities (16, engine.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "engine/engine-crypto.h"
#include "core/listener.h"
#include "util/error-message.h"
#include "list.h"
#include "util/log.h"
#include "core/core.h"
#include "core/session.h"
#include "tickets/ticket-keys.h"

_Static_assert(sizeof(((Session *) 0)->policy) == ENGINE_TICKET_POLICY_SIZE,
               "server tickets are bound to the whole policy hash");

static int validate_alpn(const char *list, char *error) {
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;
        unsigned n = 0;

        if (!copy)
                return -ENOMEM;
        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                size_t len = strlen(p);

                if (len == 0 || len > 255) {
                        error_message_set(error, "ALPN protocol names must be 1..255 bytes");
                        return -EINVAL;
                }
                n++;
        }
        if (n == 0 || n > 16) {
                error_message_set(error, "ALPN list must name 1..16 protocols");
                return -EINVAL;
        }
        return 0;
}

/* The retransmission schedule (RFC 6347 4.2.4.1, RFC 9147 5.8): initial timeout, doubling up to
 * a maximum, a number of retransmissions per flight before the Timeout event. */
static int validate_dtls(Session *s, const SessionOptions *o, char *error) {
        unsigned initial = o->has_dtls_timeout_initial ? o->dtls_timeout_initial_ms
                                                       : s->dtls_timeout_initial_ms;
        unsigned max = o->has_dtls_timeout_max ? o->dtls_timeout_max_ms : s->dtls_timeout_max_ms;
        bool any = o->has_dtls_timeout_initial || o->has_dtls_timeout_max || o->has_dtls_retries ||
                   o->has_mtu || o->has_dtls_cid;
        EngineFeatures f;

        if (!any)
                return 0;
        if (!s->dtls) {
                error_message_set(error, "DTLS options (retransmission timeouts, MTU, Connection "
                                         "ID) apply to DTLS sessions only");
                return -EINVAL;
        }
        if (initial < 10 || initial > 600000 || max < initial || max > 600000) {
                error_message_set(error, "DTLS timeouts: initial 10..600000 ms, maximum from the "
                                         "initial value up to 600000 ms");
                return -EINVAL;
        }
        if (o->has_dtls_retries && (o->dtls_retries < 1 || o->dtls_retries > 64)) {
                error_message_set(error, "DTLS retransmissions per flight must be 1..64");
                return -EINVAL;
        }
        if (o->has_mtu && (o->mtu < 256 || o->mtu > 65507)) {
                error_message_set(error, "MTU must be 256..65507 bytes");
                return -EINVAL;
        }
        engine_features(&f);
        if (o->has_dtls_cid && o->dtls_cid && !(f.dtls_cid && f.dtls13)) {
                error_message_set(error, "this build of the TLS library has no DTLS Connection ID "
                                         "support");
                return -EOPNOTSUPP;
        }
        return 0;
}

/* policy = SHA-256(policy || tag || size || data): order-sensitive, which is what a policy
 * built by successive Configure calls is. */
static int policy_mix(Session *s, uint32_t tag, const void *data, size_t size) {
        size_t n = sizeof(s->policy) + sizeof(tag) + sizeof(uint64_t) + size;
        uint64_t sz = size;
        _cleanup_free_ uint8_t *buf = malloc(n);
        int r;

        if (!buf)
                return -ENOMEM;
        memcpy(buf, s->policy, sizeof(s->policy));
        memcpy(buf + sizeof(s->policy), &tag, sizeof(tag));
        memcpy(buf + sizeof(s->policy) + sizeof(tag), &sz, sizeof(sz));
        if (size > 0)
                memcpy(buf + n - size, data, size);
        r = engine_sha256(buf, n, s->policy);
        explicit_bzero(buf, n); /* may hold a PSK */
        return r;
}

static int policy_mix_u32(Session *s, uint32_t tag, uint32_t v) {
        return policy_mix(s, tag, &v, sizeof(v));
}

static int policy_mix_str(Session *s, uint32_t tag, const char *v) {
        return policy_mix(s, tag, v ? v : "", v ? strlen(v) : 0);
}

/* What the options applied change in the policy hash (tags: the protocol's attribute
 * numbers, for want of better ones). */
static int policy_update(Session *s, const SessionOptions *o) {
        int r = 0;

        if (o->has_versions) {
                r = policy_mix_u32(s, 15, o->version_min);
                if (r >= 0)
                        r = policy_mix_u32(s, 16, o->version_max);
        }
        if (r >= 0 && o->has_legacy)
                r = policy_mix_u32(s, 18, o->legacy);
        if (r >= 0 && o->ciphers)
                r = policy_mix_str(s, 17, o->ciphers);
        if (r >= 0 && o->groups)
                r = policy_mix_str(s, 19, o->groups);
        if (r >= 0 && o->cert)
                r = policy_mix(s, 20, o->cert, o->cert_size);
        if (r >= 0 && o->psk_identity)
                r = policy_mix_str(s, 23, o->psk_identity);
        if (r >= 0 && o->psk_key)
                r = policy_mix(s, 24, o->psk_key, o->psk_key_size);
        if (r >= 0 && o->ca)
                r = policy_mix(s, 25, o->ca, o->ca_size);
        if (r >= 0 && o->system_trust)
                r = policy_mix_u32(s, 26, 1);
        if (r >= 0 && o->has_verify)
                r = policy_mix_u32(s, 27, o->verify);
        if (r >= 0 && o->pin)
                r = policy_mix(s, 28, o->pin, o->pin_size);
        if (r >= 0 && o->alpn)
                r = policy_mix_str(s, 29, o->alpn);
        if (r >= 0 && o->server_name)
                r = policy_mix_str(s, 30, o->server_name);
        /* The client-certificate mode: server tickets are bound to the policy hash. */
        if (r >= 0 && o->has_client_auth)
                r = policy_mix_u32(s, 58, o->client_auth);
        return r;
}

/* Everything a Configure can refuse, checked before anything is applied, so that a refused
 * Configure leaves the session as it was. The library-side checks try the options on scratch
 * objects (engine.h). */
static int validate(Session *s, const SessionOptions *o, char *error) {
        const Config *config = s->core->config;
        bool legacy = o->has_legacy ? o->legacy : s->legacy;
        int r;

        if (o->has_compression && o->compression != 0) {
                error_message_set(error, "compression is refused: only method 0 (none) is allowed "
                                         "(CRIME)");
                return -EPROTONOSUPPORT;
        }
        if (o->has_verify && o->verify >= _TLSC_VERIFY_MODE_MAX) {
                error_message_set(error, "unknown verify mode %u", o->verify);
                return -EINVAL;
        }
        if (o->pin && o->pin_size != 32) {
                error_message_set(error, "a pin is the 32-byte SHA-256 of the peer's public key");
                return -EINVAL;
        }
        if (o->has_verify && o->verify == TLSC_VERIFY_PINNED && !o->pin && !s->has_pin) {
                error_message_set(error, "verify mode 'pinned' needs a pin");
                return -EINVAL;
        }
        if (o->alpn && *o->alpn) {
                r = validate_alpn(o->alpn, error);
                if (r < 0)
                        return r;
        }
        if (o->has_handshake_timeout &&
            (o->handshake_timeout_ms < 100 || o->handshake_timeout_ms > 600000)) {
                error_message_set(error, "handshake timeout must be 100..600000 ms");
                return -EINVAL;
        }
        if (o->has_transport && (o->transport != 0) != s->dtls) {
                error_message_set(error, "the transport (TLS or DTLS) is fixed when the session "
                                         "is created");
                return -EINVAL;
        }
        r = validate_dtls(s, o, error);
        if (r < 0)
                return r;
        if (o->has_idle_timeout && o->idle_timeout_ms != 0 &&
            (o->idle_timeout_ms < 100 || o->idle_timeout_ms > 86400000)) {
                error_message_set(error, "idle timeout must be 0 (none) or 100..86400000 ms");
                return -EINVAL;
        }
        if (o->has_versions) {
                r = engine_ctx_check_versions(s->engine, o->version_min, o->version_max, error);
                if (r < 0)
                        return r;
        }
        if (s->dtls && (o->has_dtls_cid ? o->dtls_cid : s->dtls_cid) &&
            !(o->has_versions ? engine_dtls13_in_range(o->version_max)
                              : engine_ctx_dtls13_allowed(s->engine))) {
                error_message_set(error, "a Connection ID needs DTLS 1.3: this build of the TLS "
                                         "library has no DTLS 1.2 Connection ID (RFC 9146)");
                return -EOPNOTSUPP;
        }
        if (o->has_client_auth) {
                r = engine_ctx_check_client_auth(s->engine, o->client_auth, error);
                if (r < 0)
                        return r;
        }
        if (o->ciphers) {
                r = engine_ctx_check_ciphers(s->engine, o->ciphers, legacy, error);
                if (r < 0)
                        return r;
        }
        if (o->groups) {
                r = engine_ctx_check_groups(s->engine, o->groups, error);
                if (r < 0)
                        return r;
        }
        if (o->psk_identity || o->psk_key) {
                if (!o->psk_identity || !o->psk_key) {
                        error_message_set(error, "a PSK needs both identity and key");
                        return -EINVAL;
                }
                r = engine_ctx_check_psk(s->engine, o->psk_identity, o->psk_key_size, error);
                if (r < 0)
                        return r;
        }
        if (o->cert || o->key) {
                if (!o->cert || !o->key) {
                        error_message_set(error, "an identity needs both certificate and key");
                        return -EINVAL;
                }
                r = engine_ctx_check_identity(s->engine, o->cert, o->cert_size, o->key, o->key_size,
                                              o->key_password, error);
                if (r < 0)
                        return r;
        }
        if (o->ca) {
                /* What a session may make the daemon hold and parse: capped before parsing. */
                unsigned n = engine_trust_count(o->ca, o->ca_size);

                if (n > config->max_trust_anchors_per_session - s->n_trust_anchors) {
                        error_message_set(error,
                                          "too many CA certificates for one session: %u "
                                          "more than the %u it has is over "
                                          "MaxTrustAnchorsPerSession=%u",
                                          n, s->n_trust_anchors,
                                          config->max_trust_anchors_per_session);
                        return -EUSERS;
                }
                if (o->ca_size > config->max_trust_bytes_per_session - s->trust_bytes) {
                        error_message_set(error,
                                          "too much CA data for one session: %zu bytes "
                                          "more than the %zu it has is over "
                                          "MaxTrustBytesPerSession=%zu",
                                          o->ca_size, s->trust_bytes,
                                          config->max_trust_bytes_per_session);
                        return -EUSERS;
                }
                r = engine_ctx_check_trust(s->engine, o->ca, o->ca_size, error);
                if (r < 0)
                        return r;
        }
        if (o->system_trust) {
                r = engine_ctx_check_system_trust(s->engine, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The options validate() accepted. Only the library running out of memory can fail here. */
static int apply(Session *s, const SessionOptions *o, char **alpn, char **server_name,
                 char *error) {
        int r;

        /* First: for DTLS the version range picks the library context everything else goes
         * into. Then the CAs, under the verification setting validate() tried them with. */
        if (o->has_versions) {
                r = engine_ctx_set_versions(s->engine, o->version_min, o->version_max, error);
                if (r < 0)
                        return r;
        }
        if (o->ca) {
                r = engine_ctx_add_trust(s->engine, o->ca, o->ca_size, error);
                if (r < 0)
                        return r;
                s->n_trust_anchors += engine_trust_count(o->ca, o->ca_size);
                s->trust_bytes += o->ca_size;
                s->trust_configured = true;
        }
        if (o->system_trust) {
                r = engine_ctx_add_system_trust(s->engine, error);
                if (r < 0)
                        return r;
                s->trust_configured = true;
        }
        if (o->has_client_auth) {
                r = engine_ctx_set_client_auth(s->engine, o->client_auth, error);
                if (r < 0)
                        return r;
        }
        if (o->has_legacy)
                s->legacy = o->legacy;
        if (o->ciphers) {
                r = engine_ctx_set_ciphers(s->engine, o->ciphers, s->legacy, error);
                if (r < 0)
                        return r;
                if (s->legacy)
                        log_notice("session %" PRIu64 " (uid %u): legacy cipher suites enabled: "
                                   "%s",
                                   s->id, (unsigned) s->owner->uid, o->ciphers);
        }
        if (o->groups) {
                r = engine_ctx_set_groups(s->engine, o->groups, error);
                if (r < 0)
                        return r;
        }
        if (o->cert) {
                r = engine_ctx_set_identity(s->engine, o->cert, o->cert_size, o->key, o->key_size,
                                            o->key_password, error);
                if (r < 0)
                        return r;
        }
        if (o->psk_identity) {
                r = engine_ctx_set_psk(s->engine, o->psk_identity, o->psk_key, o->psk_key_size,
                                       error);
                if (r < 0)
                        return r;
                s->trust_configured = true; /* a PSK authenticates the peer itself */
        }
        if (o->pin) {
                memcpy(s->pin, o->pin, 32);
                s->has_pin = true;
        }
        if (o->has_verify)
                s->verify = o->verify;
        if (o->alpn) {
                free(s->alpn);
                s->alpn = TAKE_PTR(*alpn);
        }
        if (o->server_name) {
                free(s->server_name);
                s->server_name = TAKE_PTR(*server_name);
        }
        if (o->has_handshake_timeout) {
                s->handshake_timeout_ms = o->handshake_timeout_ms;
                s->handshake_timeout_set = true;
        }
        if (o->has_idle_timeout)
                s->idle_timeout_ms = o->idle_timeout_ms;
        if (o->has_dtls_timeout_initial)
                s->dtls_timeout_initial_ms = o->dtls_timeout_initial_ms;
        if (o->has_dtls_timeout_max)
                s->dtls_timeout_max_ms = o->dtls_timeout_max_ms;
        if (o->has_dtls_retries)
                s->dtls_retries = o->dtls_retries;
        if (o->has_mtu)
                s->mtu = o->mtu;
        if (o->has_dtls_cid)
                s->dtls_cid = o->dtls_cid;
        if (o->has_resume)
                s->resume = o->resume;
        return policy_update(s, o);
}

/* An empty string clears a string option. */
static int copy_option(const char *v, char **ret) {
        *ret = NULL;
        if (v && *v && !(*ret = strdup(v)))
                return -ENOMEM;
        return 0;
}

int session_configure(Session *s, const SessionOptions *o, char *error) {
        _cleanup_free_ char *alpn = NULL, *server_name = NULL;
        int r;

        r = validate(s, o, error);
        if (r < 0)
                return r;
        if (copy_option(o->alpn, &alpn) < 0 || copy_option(o->server_name, &server_name) < 0)
                return -ENOMEM;
        /* Objects that copied the old policy (the DTLS acceptor) are rebuilt; counted before
         * apply, because even one that fails half way may have changed the engine's context. */
        s->generation++;
        r = apply(s, o, &alpn, &server_name, error);
        if (r < 0) {
                /* Part of the options is in force and the hash does not say which: make it
                 * match no policy, so nothing cached under another is ever offered here. */
                (void) policy_mix_u32(s, UINT32_MAX, (uint32_t) core_next_id(s->core));
                log_warning("session %" PRIu64 ": Configure failed after validation: %s", s->id,
                            strerror(-r));
        }
        return r;
}

int session_new(Peer *owner, unsigned role, const SessionOptions *o, char *error, Session **ret) {
        Core *core = owner->core;
        Session *s;
        int r;

        if (role != ENGINE_CLIENT && role != ENGINE_SERVER) {
                error_message_set(error, "role must be client (0) or server (1)");
                return -EINVAL;
        }
        if (owner->n_sessions >= core->config->max_sessions_per_client) {
                error_message_set(error, "too many sessions (MaxSessionsPerClient=%u)",
                                  core->config->max_sessions_per_client);
                return -EUSERS;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->core = core;
        s->owner = owner;
        s->id = core_next_id(core);
        s->role = (EngineRole) role;
        s->verify = TLSC_VERIFY_STRICT;
        s->handshake_timeout_ms = core->config->handshake_timeout_ms;
        s->dtls = o->has_transport && o->transport == TLSC_TRANSPORT_DTLS;
        if (o->has_transport && o->transport > TLSC_TRANSPORT_DTLS) {
                free(s);
                error_message_set(error, "transport must be TLS (0) or DTLS (1)");
                return -EINVAL;
        }
        s->dtls_timeout_initial_ms = 1000;
        s->dtls_timeout_max_ms = 60000;
        s->dtls_retries = 6;
        s->mtu = 1400;
        s->resume = true;
        r = engine_ctx_new(s->role, s->dtls ? ENGINE_DTLS : ENGINE_TLS, core->system_trust,
                           &s->engine);
        if (r < 0) {
                free(s);
                return r;
        }
        r = engine_ctx_set_min_key_bits(s->engine, core->config->min_rsa_key_bits,
                                        core->config->min_ecc_key_bits, error);
        if (r < 0) {
                session_free(s);
                return r;
        }
        /* The policy hash starts from the role and transport. */
        r = policy_mix_u32(s, 14, (uint32_t) s->role);
        if (r >= 0)
                r = policy_mix_u32(s, 59, s->dtls);
        /* A ticket made while smaller keys were accepted resumes no session of a stricter
         * daemon (resumption skips the certificate). */
        if (r >= 0)
                r = policy_mix_u32(s, 60, core->config->min_rsa_key_bits);
        if (r >= 0)
                r = policy_mix_u32(s, 61, core->config->min_ecc_key_bits);
        /* Servers issue tickets under the daemon's keys, bound to the owner and to the policy
         * hash as it stood when the ticket's handshake began. */
        if (r >= 0 && s->role == ENGINE_SERVER && core->ticket_keys)
                r = engine_ctx_set_ticket_keys(s->engine, ticket_keys_engine(core->ticket_keys),
                                               (uint32_t) owner->uid, s->policy);
        if (r < 0) {
                session_free(s);
                return r;
        }
        r = session_configure(s, o, error);
        if (r < 0) {
                session_free(s);
                return r;
        }

        LIST_PREPEND(owner->sessions, s);
        owner->n_sessions++;
        log_debug("session %" PRIu64 " created by uid %u", s->id, (unsigned) owner->uid);
        *ret = s;
        return 0;
}

Session *session_free(Session *s) {
        if (!s)
                return NULL;
        while (s->listeners)
                listener_free(s->listeners);
        while (s->connections)
                connection_free(s->connections);
        if (s->owner && LIST_LINKED(s->owner->sessions, s)) {
                LIST_REMOVE(s->owner->sessions, s);
                s->owner->n_sessions--;
        }
        engine_ctx_free(s->engine);
        free(s->alpn);
        free(s->server_name);
        free(s);
        return NULL;
}
