/* SPDX-License-Identifier: MIT */
/*
 * Which sanitizer this file is built with: HPOOL__ASAN (AddressSanitizer,
 * LeakSanitizer with it) and HPOOL__TSAN (ThreadSanitizer). gcc defines
 * __SANITIZE_*__, clang answers __has_feature. The library and the tests
 * (tests/san.h) both ask here.
 */
#ifndef HPOOL_SANITIZER_H
#define HPOOL_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define HPOOL__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HPOOL__ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define HPOOL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HPOOL__TSAN 1
#endif
#endif

#endif
