#ifndef POSTAMT_CRESOLV_SHIM_H
#define POSTAMT_CRESOLV_SHIM_H
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>
#endif
