// SPDX-License-Identifier: GPL-2.0
/*
 * Checks bb_ram_math.h as a 32-bit kernel would run it. Built by
 * kernel/vm-test.sh with gcc -m32, where unsigned long has 32 bits like
 * on i386 or armhf; it refuses to run if unsigned long is wider, since
 * nothing could wrap then. Each case is compared with the same formula in
 * 64-bit integers; with the old "used * 10000 / total" in unsigned long
 * the cases above 429,496 used pages fail.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

typedef uint64_t u64;

static inline u64 div64_u64(u64 dividend, u64 divisor)
{
	return dividend / divisor;
}

#include "bb_ram_math.h"

#define GIB_PAGES (1UL << 18)	/* 1 GiB in 4 KiB pages */

struct bb_case {
	unsigned long used, total;
};

static const struct bb_case cases[] = {
	{ 0, 0 },
	{ 0, GIB_PAGES },
	{ 1, 3 },
	{ 429496, 1000000 },		/* the last product that fits */
	{ 429497, 1000000 },		/* the first one that does not */
	{ 2 * GIB_PAGES, 3 * GIB_PAGES },	/* 2 of 3 GiB: 66.66 % */
	{ 3 * GIB_PAGES, 4 * GIB_PAGES - 1 },
	{ 16 * GIB_PAGES - 1, 16 * GIB_PAGES },	/* 64 GiB with PAE */
	{ ULONG_MAX - 1, ULONG_MAX },
	{ ULONG_MAX, ULONG_MAX },
	{ ULONG_MAX, 1 },		/* bad input: clamped to 100 % */
};

static int check_percent(const struct bb_case *c)
{
	u64 used = c->used < c->total ? c->used : c->total;
	u64 want = c->total ? used * 10000 / c->total : 0;
	unsigned int got = bb_used_basis_points(c->used, c->total);

	if (got == want)
		return 0;
	printf("bb_used_basis_points(%lu, %lu) = %u, want %llu\n",
	       c->used, c->total, got, (unsigned long long)want);
	return 1;
}

static int check_kib(unsigned long pages)
{
	u64 want = (u64)pages * 4;
	u64 got = bb_pages_to_kib(pages, 12);

	if (got == want)
		return 0;
	printf("bb_pages_to_kib(%lu, 12) = %llu, want %llu\n", pages,
	       (unsigned long long)got, (unsigned long long)want);
	return 1;
}

int main(void)
{
	unsigned int i;
	int failed = 0;

	if (sizeof(unsigned long) != 4) {
		printf("unsigned long has %zu bytes: build with -m32\n",
		       sizeof(unsigned long));
		return 2;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		failed += check_percent(&cases[i]);
	failed += check_kib(ULONG_MAX);
	failed += check_kib(16 * GIB_PAGES);
	failed += bb_used_pages(GIB_PAGES, 2 * GIB_PAGES) != 0;
	failed += bb_used_pages(3 * GIB_PAGES, GIB_PAGES) != 2 * GIB_PAGES;
	printf("bb_ram_math: %d of %u checks failed\n", failed,
	       (unsigned int)(sizeof(cases) / sizeof(cases[0])) + 4);
	return failed ? 1 : 0;
}
