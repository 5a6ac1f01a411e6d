#ifndef POSTAMT_CPAM_SHIM_H
#define POSTAMT_CPAM_SHIM_H
#include <security/pam_appl.h>
#endif
