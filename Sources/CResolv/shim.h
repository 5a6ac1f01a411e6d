/*
 * CResolv: glibc's reentrant resolver (res_ninit, res_nsend, res_nclose) for Swift.
 * res_ninit and res_nclose are macros for __res_ninit/__res_nclose, so they get
 * wrappers here, as does the one thing Swift cannot do safely: pointing a
 * struct __res_state at a name server with a port.
 */
#ifndef POSTAMT_CRESOLV_SHIM_H
#define POSTAMT_CRESOLV_SHIM_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

/* Allocates a zeroed resolver state and initialises it from /etc/resolv.conf. NULL on failure. */
static inline struct __res_state *postamt_res_new(void) {
    struct __res_state *state = calloc(1, sizeof(struct __res_state));
    if (state == NULL) return NULL;
    if (res_ninit(state) != 0) {
        /* res_ninit leaves a usable default (127.0.0.1) even when it fails; keep going. */
    }
    return state;
}

/* Releases what res_ninit allocated and the state itself. */
static inline void postamt_res_free(struct __res_state *state) {
    if (state == NULL) return;
    res_nclose(state);
    free(state);
}

/*
 * glibc 2.31 and later clear the AD bit of every answer unless RES_TRUSTAD ("options
 * trust-ad") is set: set it only for a resolver the caller trusts to validate (DANE).
 */
static inline void postamt_res_set_trust_ad(struct __res_state *state, int on) {
    if (on) state->options |= RES_TRUSTAD; else state->options &= ~(unsigned long)RES_TRUSTAD;
}

static inline void postamt_res_set_timing(struct __res_state *state, int retrans_seconds, int attempts) {
    state->retrans = retrans_seconds;
    state->retry = attempts;
}

/*
 * Points the state at exactly one name server: ip is a numeric IPv4 or IPv6 address,
 * port the UDP/TCP port. Returns 0, or -1 for an unparsable address or no memory.
 *
 * glibc (2.26 and later) notices a changed nsaddr_list on the next res_nsend and
 * reopens its sockets. An IPv6 server lives in _u._ext.nsaddrs[0] with
 * nsaddr_list[0].sin_family == 0, exactly as res_ninit stores one from resolv.conf;
 * res_nclose frees that buffer.
 */
static inline int postamt_res_set_nameserver(struct __res_state *state, const char *ip, int port) {
    struct in_addr v4;
    struct in6_addr v6;
    if (port <= 0 || port > 65535) return -1;
    if (inet_pton(AF_INET, ip, &v4) == 1) {
        memset(&state->nsaddr_list[0], 0, sizeof state->nsaddr_list[0]);
        state->nsaddr_list[0].sin_family = AF_INET;
        state->nsaddr_list[0].sin_port = htons((uint16_t)port);
        state->nsaddr_list[0].sin_addr = v4;
        state->nscount = 1;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &v6) == 1) {
        struct sockaddr_in6 *sa6 = state->_u._ext.nsaddrs[0];
        if (sa6 == NULL) {
            sa6 = malloc(sizeof *sa6);
            if (sa6 == NULL) return -1;
            state->_u._ext.nsaddrs[0] = sa6;
        }
        memset(sa6, 0, sizeof *sa6);
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        sa6->sin6_addr = v6;
        memset(&state->nsaddr_list[0], 0, sizeof state->nsaddr_list[0]);
        state->nsaddr_list[0].sin_family = 0;
        state->nscount = 1;
        return 0;
    }
    return -1;
}

/* res_nsend; returns the answer length or -1 (errno ETIMEDOUT or ECONNREFUSED). */
static inline int postamt_res_send(struct __res_state *state, const unsigned char *query, int query_length,
                                   unsigned char *answer, int answer_capacity) {
    return res_nsend(state, query, query_length, answer, answer_capacity);
}

#endif
