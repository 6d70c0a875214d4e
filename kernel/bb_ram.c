// SPDX-License-Identifier: GPL-2.0
/*
 * bb_ram - host RAM figures for brokerbench as one JSON object in /proc/bb_ram.
 *
 * The numbers come from the same kernel accounting that fs/proc/meminfo.c
 * uses, so on the same kernel they agree with /proc/meminfo field for field:
 *
 *   total_kib     = MemTotal     = si_meminfo().totalram
 *   free_kib      = MemFree      = si_meminfo().freeram
 *   available_kib = MemAvailable = si_mem_available()
 *   buffers_kib   = Buffers      = si_meminfo().bufferram
 *   cached_kib    = Cached       = NR_FILE_PAGES - swap cache - buffers
 *                                  (clamped at 0, exactly as meminfo does)
 *   used_kib      = total - available (clamped at 0)
 *   used_percent  = used * 100 / total, truncated to two decimals
 *
 * "used" is total - available (the definition of procps-ng free(1) since
 * 4.0.1) rather than total - free - buffers - cached, because MemAvailable
 * is the kernel's own estimate of what could be handed out without
 * swapping; the harness's /proc/meminfo fallback uses the same formula so
 * both sources report the same value.
 *
 * All counters are in pages; bb_pages_to_kib() converts them to KiB like
 * meminfo's K() does. The arithmetic is in bb_ram_math.h, in 64 bits so
 * that it cannot wrap on 32-bit kernels.
 * single_open() renders the whole object in one show() call, so a reader
 * never sees fields from two different samples.
 */
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/swap.h>
#include <linux/vmstat.h>

#include "bb_ram_math.h"

#define BB_RAM_NAME "bb_ram"

/* Pages to KiB, as an unsigned long long for %llu. */
#define K(pages) ((unsigned long long)bb_pages_to_kib(pages, PAGE_SHIFT))

static struct proc_dir_entry *bb_ram_entry;

static int bb_ram_show(struct seq_file *m, void *v)
{
	struct sysinfo i;
	unsigned long available, used;
	unsigned int basis_points;
	long cached;

	si_meminfo(&i);
	available = si_mem_available();

	/*
	 * Page cache minus the pages that are really swap cache or block
	 * device buffers, which meminfo reports separately. The counters are
	 * read at slightly different moments, so the result can dip below 0.
	 */
	cached = global_node_page_state(NR_FILE_PAGES) -
		 total_swapcache_pages() - i.bufferram;
	if (cached < 0)
		cached = 0;

	used = bb_used_pages(i.totalram, available);
	/* Printed with two decimals: basis points are 1/100 of a percent. */
	basis_points = bb_used_basis_points(used, i.totalram);

	seq_printf(m,
		   "{\"total_kib\":%llu,\"free_kib\":%llu,"
		   "\"available_kib\":%llu,\"buffers_kib\":%llu,"
		   "\"cached_kib\":%llu,\"used_kib\":%llu,"
		   "\"used_percent\":%u.%02u}\n",
		   K(i.totalram), K(i.freeram), K(available), K(i.bufferram),
		   K(cached), K(used), basis_points / 100, basis_points % 100);
	return 0;
}

static int bb_ram_open(struct inode *inode, struct file *file)
{
	return single_open(file, bb_ram_show, NULL);
}

/* Read-only: no .proc_write, and the entry is created with mode 0444. */
static const struct proc_ops bb_ram_ops = {
	.proc_open = bb_ram_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static int __init bb_ram_init(void)
{
	bb_ram_entry = proc_create(BB_RAM_NAME, 0444, NULL, &bb_ram_ops);
	if (!bb_ram_entry)
		return -ENOMEM;
	return 0;
}

static void __exit bb_ram_exit(void)
{
	proc_remove(bb_ram_entry);
}

module_init(bb_ram_init);
module_exit(bb_ram_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("brokerbench");
MODULE_DESCRIPTION("Host RAM usage as JSON in /proc/bb_ram");
