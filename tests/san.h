/* SPDX-License-Identifier: MIT */
/*
 * Which sanitizer this test was built with, for the tests that skip under
 * one, visibly (each skip says why). HPOOL_TEST_TSAN: ThreadSanitizer;
 * HPOOL_TEST_ASAN: AddressSanitizer. The library's own test
 * (src/sanitizer.h) answers.
 */
#ifndef HPOOL_TEST_SAN_H
#define HPOOL_TEST_SAN_H

#include "sanitizer.h"

#ifdef HPOOL__TSAN
#define HPOOL_TEST_TSAN 1
#endif
#ifdef HPOOL__ASAN
#define HPOOL_TEST_ASAN 1
#endif

#endif
