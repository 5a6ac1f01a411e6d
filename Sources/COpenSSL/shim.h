#ifndef POSTAMT_COPENSSL_SHIM_H
#define POSTAMT_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#endif
