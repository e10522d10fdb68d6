/* SPDX-License-Identifier: MIT */
/*
 * Which sanitizer this test was built with, for the tests that skip under
 * one, visibly (each skip says why). HPOOL_TEST_TSAN: ThreadSanitizer;
 * HPOOL_TEST_ASAN: AddressSanitizer. gcc defines __SANITIZE_*__, clang
 * answers __has_feature.
 */
#ifndef HPOOL_TEST_SAN_H
#define HPOOL_TEST_SAN_H

#if defined(__SANITIZE_THREAD__)
#define HPOOL_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HPOOL_TEST_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HPOOL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HPOOL_TEST_ASAN 1
#endif
#endif

#endif
