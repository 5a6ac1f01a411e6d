#ifndef POSTAMT_CCRYPT_SHIM_H
#define POSTAMT_CCRYPT_SHIM_H
#include <crypt.h>
#endif
