/*
 * COpenSSL: the OpenSSL 3 headers for Swift, plus static-inline wrappers for the
 * macros Swift cannot import (function-like macros and computed option bits).
 * MailNet's TLS wrapper and the DKIM code use this module; keep it thin.
 *
 * The programs do not link libssl: loader.c defines every OpenSSL function they call as a
 * jump through a pointer that is filled by dlopen("libssl.so.3") at the first call (or
 * at postamt_openssl_load). A connection that never uses TLS never maps OpenSSL, which
 * saves about 450 KiB of private memory (libcrypto's relocated data) and the loading time
 * of two large libraries on every exec of a per-connection program.
 */
#ifndef POSTAMT_COPENSSL_SHIM_H
#define POSTAMT_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <string.h>

/*
 * Loads OpenSSL now. Returns 1, or 0 with a one-line reason in error (size bytes, NUL-terminated).
 * Calling an OpenSSL function loads it too; if that fails, the program prints the reason on
 * stderr and exits with status 75 (EX_TEMPFAIL).
 */
int postamt_openssl_load(char *error, size_t size);

/* Option bits (SSL_OP_* are built with SSL_OP_BIT(), which Swift does not import). */
static inline uint64_t postamt_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t postamt_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t postamt_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t postamt_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return SSL_OP_IGNORE_UNEXPECTED_EOF; }

static inline long postamt_SSL_MODE_ENABLE_PARTIAL_WRITE(void) { return SSL_MODE_ENABLE_PARTIAL_WRITE; }
static inline long postamt_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }
static inline long postamt_SSL_SESS_CACHE_OFF(void) { return SSL_SESS_CACHE_OFF; }
static inline int postamt_SSL_FILETYPE_PEM(void) { return SSL_FILETYPE_PEM; }
static inline unsigned int postamt_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS(void) {
    return X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
}

/* Function-like macros. */
static inline int postamt_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long postamt_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long postamt_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline int postamt_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
static inline int postamt_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff) {
    return (int)SSL_CTX_set_dh_auto(ctx, onoff);
}
static inline int postamt_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int postamt_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add0_chain_cert(ctx, cert);
}
static inline long postamt_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/*
 * Writes the subject of a certificate in RFC 2253 form into buf (not NUL-terminated);
 * returns the number of bytes written (truncated to size), or -1.
 */
static inline int postamt_X509_subject_rfc2253(X509 *cert, char *buf, int size) {
    X509_NAME *name = X509_get_subject_name(cert);
    if (name == NULL || size <= 0) return -1;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return -1;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) { BIO_free(bio); return -1; }
    char *data = NULL;
    long length = postamt_BIO_get_mem_data(bio, &data);
    int n = -1;
    if (length >= 0 && data != NULL) {
        n = length < (long)size ? (int)length : size;
        memcpy(buf, data, (size_t)n);
    }
    BIO_free(bio);
    return n;
}

/* DKIM (RFC 6376, RFC 8463): digests and signature checks over whole buffers. */

/* SHA-256 of data into out (32 bytes); 1 on success. */
static inline int postamt_sha256(const unsigned char *data, size_t length, unsigned char *out) {
    unsigned int size = 0;
    return EVP_Digest(data, length, out, &size, EVP_sha256(), NULL) == 1 && size == 32;
}

/*
 * Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over data with a DER public key
 * (SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey as some DKIM records carry).
 * Returns 1 good, 0 bad signature, -1 unusable key, -2 key shorter than min_bits.
 */
static inline int postamt_verify_rsa_sha256(const unsigned char *der, long der_length,
                                            const unsigned char *data, size_t data_length,
                                            const unsigned char *sig, size_t sig_length, int min_bits) {
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, der_length);
    if (key == NULL) { p = der; key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, der_length); }
    if (key == NULL) { ERR_clear_error(); return -1; }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) { EVP_PKEY_free(key); return -1; }
    if (EVP_PKEY_get_bits(key) < min_bits) { EVP_PKEY_free(key); return -2; }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int result = -1;
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1) {
        result = EVP_DigestVerify(ctx, sig, sig_length, data, data_length) == 1 ? 1 : 0;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return result;
}

/* Verifies a pure Ed25519 signature over message with a raw 32-byte public key. 1/0/-1 as above. */
static inline int postamt_verify_ed25519(const unsigned char *raw_key, size_t key_length,
                                         const unsigned char *message, size_t message_length,
                                         const unsigned char *sig, size_t sig_length) {
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw_key, key_length);
    if (key == NULL) { ERR_clear_error(); return -1; }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int result = -1;
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1) {
        result = EVP_DigestVerify(ctx, sig, sig_length, message, message_length) == 1 ? 1 : 0;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return result;
}

#endif
