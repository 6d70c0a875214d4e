/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The arithmetic of bb_ram.c, apart so that kernel/vm-test.sh can also
 * build it as 32-bit user-space C (bb_ram_math_test.c, gcc -m32) and check
 * it against 64-bit arithmetic. On a 32-bit kernel unsigned long has 32
 * bits: used * 10000 in unsigned long wraps once more than 429,496 pages
 * (1.6 GiB with 4 KiB pages) are in use, so every product here is u64.
 *
 * The kernel gets u64 and div64_u64() from <linux/math64.h> (a plain '/'
 * on u64 does not link on 32-bit kernels); the test defines both before
 * including this file.
 */
#ifndef BB_RAM_MATH_H
#define BB_RAM_MATH_H

#ifdef __KERNEL__
#include <linux/math64.h>
#include <linux/types.h>
#endif

/* Pages to KiB, as K() in fs/proc/meminfo.c, but without wrapping. */
static inline u64 bb_pages_to_kib(unsigned long pages, unsigned int page_shift)
{
	return (u64)pages << (page_shift - 10);
}

/* total - available, at least 0: MemAvailable can exceed MemTotal. */
static inline unsigned long bb_used_pages(unsigned long total,
					  unsigned long available)
{
	return total > available ? total - available : 0;
}

/*
 * used * 100 / total in hundredths of a percent, truncated: there is no
 * floating point in the kernel. At most 10000, so the caller can split it
 * with 32-bit / and %. 0 if total is 0.
 */
static inline unsigned int bb_used_basis_points(unsigned long used,
						unsigned long total)
{
	if (!total)
		return 0;
	if (used > total)
		used = total;
	return (unsigned int)div64_u64((u64)used * 10000, total);
}

#endif /* BB_RAM_MATH_H */
