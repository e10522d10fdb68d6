#ifndef HPOOL_POOL_H
#define HPOOL_POOL_H
#include "internal.h"
#endif
