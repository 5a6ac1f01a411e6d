/*
 * OpenSSL loaded at first use (see copenssl.h).
 *
 * Each function in POSTAMT_OPENSSL_FUNCTIONS is defined here as a tiny trampoline (assembly,
 * so it needs no prototype and forwards every argument untouched) that jumps through a pointer
 * slot. The slots start out pointing at postamt_ossl_slow, which saves the argument registers,
 * loads libssl.so.3 with dlopen(3), fills every slot with dlsym(3), restores the registers and
 * jumps to the real function. A function the programs call that is missing from the list is a
 * link error ("undefined reference"), never a silent fallback.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POSTAMT_OPENSSL_FUNCTIONS(X) \
    X(BIO_ctrl) X(BIO_free) X(BIO_new) X(BIO_new_mem_buf) X(BIO_s_mem) \
    X(ERR_clear_error) X(ERR_error_string_n) X(ERR_get_error) X(ERR_get_error_all) \
    X(ERR_lib_error_string) X(ERR_reason_error_string) \
    X(EVP_Digest) X(EVP_DigestSign) X(EVP_DigestSignInit) X(EVP_DigestVerify) X(EVP_DigestVerifyInit) \
    X(EVP_MD_CTX_free) X(EVP_MD_CTX_new) X(EVP_PKEY_CTX_free) X(EVP_PKEY_CTX_new_from_name) \
    X(EVP_PKEY_CTX_set_rsa_keygen_bits) X(EVP_PKEY_free) X(EVP_PKEY_generate) X(EVP_PKEY_get_base_id) \
    X(EVP_PKEY_get_bits) X(EVP_PKEY_get_raw_public_key) X(EVP_PKEY_keygen_init) \
    X(EVP_PKEY_new_raw_public_key) X(EVP_sha256) X(EVP_sha512) \
    X(PEM_read_bio_PrivateKey) X(PEM_read_bio_X509) X(PEM_read_bio_X509_AUX) X(PEM_write_bio_PrivateKey) \
    X(SSL_CIPHER_get_bits) X(SSL_CIPHER_get_name) X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) X(SSL_CTX_dane_enable) \
    X(SSL_CTX_free) X(SSL_CTX_load_verify_locations) X(SSL_CTX_new) X(SSL_CTX_set_cipher_list) \
    X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_set_num_tickets) X(SSL_CTX_set_options) \
    X(SSL_CTX_set_verify) X(SSL_CTX_use_PrivateKey) X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate) \
    X(SSL_CTX_use_certificate_chain_file) \
    X(SSL_ctrl) X(SSL_dane_enable) X(SSL_dane_set_flags) X(SSL_dane_tlsa_add) X(SSL_do_handshake) X(SSL_free) X(SSL_get0_dane_authority) X(SSL_get0_dane_tlsa) X(SSL_get0_param) X(SSL_get0_peer_certificate) \
    X(SSL_get_current_cipher) X(SSL_get_error) X(SSL_get_verify_result) X(SSL_get_version) X(SSL_new) \
    X(SSL_pending) X(SSL_read_ex) X(SSL_set1_host) X(SSL_set_accept_state) X(SSL_set_connect_state) \
    X(SSL_set_hostflags) X(SSL_set_rfd) X(SSL_set_wfd) X(SSL_shutdown) X(SSL_write_ex) \
    X(TLS_client_method) X(TLS_server_method) \
    X(ASN1_TIME_diff) X(X509_NAME_print_ex) X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_free) X(X509_get0_notAfter) X(X509_get_subject_name) \
    X(X509_get0_pubkey) X(X509_verify_cert_error_string) X(d2i_PUBKEY) X(d2i_PublicKey) X(i2d_PUBKEY) X(i2d_X509)

#define POSTAMT_LIBSSL "libssl.so.3"

extern char postamt_ossl_slow[];

#define POSTAMT_SLOT(name) \
    __attribute__((visibility("hidden"), used)) void *postamt_ossl_ptr_##name = (void *)postamt_ossl_slow;
POSTAMT_OPENSSL_FUNCTIONS(POSTAMT_SLOT)

#if defined(__x86_64__)
/* r11 (scratch, not an argument register) carries the slot's address to the slow path. */
#define POSTAMT_TRAMPOLINE(name) __asm__( \
    ".text\n.globl " #name "\n.hidden " #name "\n.type " #name ",@function\n" #name ":\n" \
    "\tleaq postamt_ossl_ptr_" #name "(%rip), %r11\n\tjmp *(%r11)\n.size " #name ", .-" #name "\n");
__asm__(
    ".text\n.globl postamt_ossl_slow\n.hidden postamt_ossl_slow\n.type postamt_ossl_slow,@function\n"
    "postamt_ossl_slow:\n"
    "\tpushq %rbp\n\tmovq %rsp, %rbp\n"
    "\tpushq %r11\n\tpushq %rdi\n\tpushq %rsi\n\tpushq %rdx\n\tpushq %rcx\n\tpushq %r8\n\tpushq %r9\n\tpushq %rax\n"
    "\tsubq $128, %rsp\n"
    "\tmovdqu %xmm0, 0(%rsp)\n\tmovdqu %xmm1, 16(%rsp)\n\tmovdqu %xmm2, 32(%rsp)\n\tmovdqu %xmm3, 48(%rsp)\n"
    "\tmovdqu %xmm4, 64(%rsp)\n\tmovdqu %xmm5, 80(%rsp)\n\tmovdqu %xmm6, 96(%rsp)\n\tmovdqu %xmm7, 112(%rsp)\n"
    "\tcall postamt_openssl_load_or_exit\n"
    "\tmovdqu 0(%rsp), %xmm0\n\tmovdqu 16(%rsp), %xmm1\n\tmovdqu 32(%rsp), %xmm2\n\tmovdqu 48(%rsp), %xmm3\n"
    "\tmovdqu 64(%rsp), %xmm4\n\tmovdqu 80(%rsp), %xmm5\n\tmovdqu 96(%rsp), %xmm6\n\tmovdqu 112(%rsp), %xmm7\n"
    "\taddq $128, %rsp\n"
    "\tpopq %rax\n\tpopq %r9\n\tpopq %r8\n\tpopq %rcx\n\tpopq %rdx\n\tpopq %rsi\n\tpopq %rdi\n\tpopq %r11\n"
    "\tpopq %rbp\n"
    "\tjmp *(%r11)\n"
    ".size postamt_ossl_slow, .-postamt_ossl_slow\n");
#elif defined(__aarch64__)
/* x16 (IP0, free at a call) carries the slot's address; x17 the target. */
#define POSTAMT_TRAMPOLINE(name) __asm__( \
    ".text\n.globl " #name "\n.hidden " #name "\n.type " #name ",%function\n" #name ":\n" \
    "\tadrp x16, postamt_ossl_ptr_" #name "\n\tadd x16, x16, :lo12:postamt_ossl_ptr_" #name "\n" \
    "\tldr x17, [x16]\n\tbr x17\n.size " #name ", .-" #name "\n");
__asm__(
    ".text\n.globl postamt_ossl_slow\n.hidden postamt_ossl_slow\n.type postamt_ossl_slow,%function\n"
    "postamt_ossl_slow:\n"
    "\tstp x29, x30, [sp, #-16]!\n\tmov x29, sp\n"
    "\tstp x0, x1, [sp, #-16]!\n\tstp x2, x3, [sp, #-16]!\n\tstp x4, x5, [sp, #-16]!\n"
    "\tstp x6, x7, [sp, #-16]!\n\tstp x8, x16, [sp, #-16]!\n"
    "\tstp q0, q1, [sp, #-32]!\n\tstp q2, q3, [sp, #-32]!\n\tstp q4, q5, [sp, #-32]!\n\tstp q6, q7, [sp, #-32]!\n"
    "\tbl postamt_openssl_load_or_exit\n"
    "\tldp q6, q7, [sp], #32\n\tldp q4, q5, [sp], #32\n\tldp q2, q3, [sp], #32\n\tldp q0, q1, [sp], #32\n"
    "\tldp x8, x16, [sp], #16\n\tldp x6, x7, [sp], #16\n\tldp x4, x5, [sp], #16\n"
    "\tldp x2, x3, [sp], #16\n\tldp x0, x1, [sp], #16\n"
    "\tldp x29, x30, [sp], #16\n"
    "\tldr x17, [x16]\n\tbr x17\n"
    ".size postamt_ossl_slow, .-postamt_ossl_slow\n");
#else
#error "loader.c: trampolines exist for x86_64 and aarch64 only"
#endif
POSTAMT_OPENSSL_FUNCTIONS(POSTAMT_TRAMPOLINE)

static pthread_once_t postamt_ossl_once = PTHREAD_ONCE_INIT;
static char postamt_ossl_error[256];
static int postamt_ossl_loaded;

static void postamt_ossl_load_once(void) {
    void *ssl = dlopen(POSTAMT_LIBSSL, RTLD_NOW | RTLD_LOCAL);
    if (ssl == NULL) {
        const char *reason = dlerror();
        snprintf(postamt_ossl_error, sizeof postamt_ossl_error, "cannot load " POSTAMT_LIBSSL ": %s",
                 reason ? reason : "unknown error");
        return;
    }
    /* dlsym on libssl's handle also searches its dependency libcrypto.so.3. */
#define POSTAMT_RESOLVE(name) { \
        void *f = dlsym(ssl, #name); \
        if (f == NULL) { \
            snprintf(postamt_ossl_error, sizeof postamt_ossl_error, POSTAMT_LIBSSL " has no %s", #name); \
            return; \
        } \
        postamt_ossl_ptr_##name = f; \
    }
    POSTAMT_OPENSSL_FUNCTIONS(POSTAMT_RESOLVE)
    postamt_ossl_loaded = 1;
}

int postamt_openssl_load(char *error, size_t size) {
    pthread_once(&postamt_ossl_once, postamt_ossl_load_once);
    if (postamt_ossl_loaded) return 1;
    if (error != NULL && size > 0) snprintf(error, size, "%s", postamt_ossl_error);
    return 0;
}

__attribute__((visibility("hidden"), used)) void postamt_openssl_load_or_exit(void) {
    if (postamt_openssl_load(NULL, 0)) return;
    /* A half-filled table must never be used: say why and stop (EX_TEMPFAIL). */
    char line[320];
    int n = snprintf(line, sizeof line, "postamt: OpenSSL: %s\n", postamt_ossl_error);
    if (n > 0) { ssize_t ignored = write(2, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)); (void)ignored; }
    _exit(75);
}
