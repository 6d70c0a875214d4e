// SPDX-License-Identifier: GPL-2.0
/*
 * bb_procs - every process (thread group leader) of the host as one JSON
 * object in /proc/bb_procs, for brokerbench:
 *
 *   {"processes":[{"pid":1,"ppid":0,"name":"init","state":"S",
 *                  "state_word":"sleeping","uid":0,"rss_kib":1234,
 *                  "threads":1}, ...],
 *    "counts":{"running":1,"sleeping":40,"stopped":0,"zombie":0,
 *              "total":41}}
 *
 * Field meanings follow /proc/<pid>/stat and /proc/<pid>/status so the
 * harness's /proc fallback produces the same values:
 *   pid, ppid  - tgid of the task and of its real parent, as seen from the
 *                pid namespace of the reader (tasks invisible there are
 *                skipped; a parent outside it is reported as 0)
 *   name       - comm, JSON-escaped (see bb_json_put_name())
 *   state      - the letter of task_state_to_char(), state_word its name
 *                from fs/proc/array.c ("sleeping", "disk sleep", ...)
 *   uid        - real uid, mapped into the reader's user namespace
 *   rss_kib    - get_mm_rss() in KiB; 0 for kernel threads and for tasks
 *                that have already dropped their mm (zombies)
 *   threads    - number of threads in the thread group
 *
 * counts bucket exactly the listed entries by their state letter, so
 * running + sleeping + stopped + zombie == total == number of entries:
 *   running  = R
 *   sleeping = S, D, P, I   (any kind of wait: interruptible, disk,
 *                            parked and idle kernel threads)
 *   stopped  = T, t         (job control stop and ptrace stop)
 *   zombie   = Z, X         (exited, not yet or just being reaped)
 *
 * The walk uses for_each_process() under rcu_read_lock(): no recursion,
 * no sleeping, and task_structs stay valid until rcu_read_unlock().
 */
#include <linux/cred.h>
#include <linux/init.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uidgid.h>

#define BB_PROCS_NAME "bb_procs"

/* Indexed by task_state_index(); same words as fs/proc/array.c. */
static const char *const bb_state_words[] = {
	"running",	/* R */
	"sleeping",	/* S */
	"disk sleep",	/* D */
	"stopped",	/* T */
	"tracing stop",	/* t */
	"dead",		/* X */
	"zombie",	/* Z */
	"parked",	/* P */
	"idle",		/* I */
};

struct bb_counts {
	unsigned long running, sleeping, stopped, zombie, total;
};

static struct proc_dir_entry *bb_procs_entry;

/*
 * Length of the well-formed UTF-8 prefix at s[0..len) if it is a complete
 * sequence (returned as a positive number), or minus the length of the
 * "maximal subpart" to replace with U+FFFD otherwise. This is the
 * Unicode/WHATWG substitution rule that Rust's String::from_utf8_lossy()
 * applies, so the harness decodes /proc/<pid>/stat to the same string.
 */
static int bb_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int need, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return -1;

	/* Second-byte ranges that exclude overlongs, surrogates, > U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;

	for (i = 1; i < need; i++) {
		if ((size_t)i >= len || s[i] < lo || s[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/*
 * Writes comm as a JSON string. A task can rename itself to anything (for
 * example a"b\c or a name with a newline), and comm is cut at 15 bytes,
 * possibly inside a multi-byte character, so: '"' and '\' are
 * backslash-escaped, control characters become \u00XX, valid UTF-8 is
 * copied through and invalid bytes become U+FFFD, keeping the JSON valid.
 */
static void bb_json_put_name(struct seq_file *m, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t len = strlen(name), i = 0;
	int n;

	seq_putc(m, '"');
	while (i < len) {
		if (s[i] == '"' || s[i] == '\\') {
			seq_putc(m, '\\');
			seq_putc(m, s[i]);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			seq_printf(m, "\\u%04x", s[i]);
			i++;
		} else if (s[i] < 0x80) {
			seq_putc(m, s[i]);
			i++;
		} else {
			n = bb_utf8_seq(s + i, len - i);
			if (n > 0) {
				seq_write(m, s + i, n);
				i += n;
			} else {
				seq_puts(m, "\\ufffd");
				i += -n;
			}
		}
	}
	seq_putc(m, '"');
}

static void bb_count(struct bb_counts *c, char state)
{
	switch (state) {
	case 'R':
		c->running++;
		break;
	case 'T':
	case 't':
		c->stopped++;
		break;
	case 'Z':
	case 'X':
		c->zombie++;
		break;
	default:
		c->sleeping++;
		break;
	}
	c->total++;
}

/* Caller holds rcu_read_lock(). */
static void bb_show_task(struct seq_file *m, struct task_struct *p,
			 pid_t pid, struct pid_namespace *ns,
			 struct bb_counts *c)
{
	char comm[TASK_COMM_LEN];
	unsigned long rss = 0;
	unsigned int idx;
	pid_t ppid;
	char state;

	/* pid_alive() guards real_parent of a task that is being released. */
	ppid = pid_alive(p) ?
		task_tgid_nr_ns(rcu_dereference(p->real_parent), ns) : 0;
	idx = task_state_index(p);
	state = task_index_to_char(idx);

	/*
	 * task_lock() is what exit_mm() and exec take to change p->mm, so
	 * while it is held a non-NULL mm cannot be released under us. It is a
	 * spinlock, so it is allowed inside the RCU read-side section (unlike
	 * get_task_mm()/mmput(), which may sleep). It also keeps comm from
	 * changing half-way through the copy.
	 */
	task_lock(p);
	strscpy(comm, p->comm, sizeof(comm));
	if (p->mm && !(p->flags & PF_KTHREAD))
		rss = get_mm_rss(p->mm) << (PAGE_SHIFT - 10);
	task_unlock(p);

	seq_printf(m, "{\"pid\":%d,\"ppid\":%d,\"name\":", pid, ppid);
	bb_json_put_name(m, comm);
	seq_printf(m,
		   ",\"state\":\"%c\",\"state_word\":\"%s\",\"uid\":%u,"
		   "\"rss_kib\":%lu,\"threads\":%d}",
		   state, bb_state_words[idx],
		   from_kuid_munged(seq_user_ns(m), task_uid(p)), rss,
		   get_nr_threads(p));
	bb_count(c, state);
}

static int bb_procs_show(struct seq_file *m, void *v)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	struct bb_counts c = {};
	struct task_struct *p;
	bool first = true;
	pid_t pid;

	BUILD_BUG_ON(1 + ilog2(TASK_REPORT_MAX) != ARRAY_SIZE(bb_state_words));

	seq_puts(m, "{\"processes\":[");
	rcu_read_lock();
	for_each_process(p) {
		pid = task_tgid_nr_ns(p, ns);
		if (!pid)
			continue;
		if (!first)
			seq_putc(m, ',');
		first = false;
		bb_show_task(m, p, pid, ns, &c);
	}
	rcu_read_unlock();
	seq_printf(m,
		   "],\"counts\":{\"running\":%lu,\"sleeping\":%lu,"
		   "\"stopped\":%lu,\"zombie\":%lu,\"total\":%lu}}\n",
		   c.running, c.sleeping, c.stopped, c.zombie, c.total);
	return 0;
}

static int bb_procs_open(struct inode *inode, struct file *file)
{
	return single_open(file, bb_procs_show, NULL);
}

/* Read-only: no .proc_write, and the entry is created with mode 0444. */
static const struct proc_ops bb_procs_ops = {
	.proc_open = bb_procs_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static int __init bb_procs_init(void)
{
	bb_procs_entry = proc_create(BB_PROCS_NAME, 0444, NULL, &bb_procs_ops);
	if (!bb_procs_entry)
		return -ENOMEM;
	return 0;
}

static void __exit bb_procs_exit(void)
{
	proc_remove(bb_procs_entry);
}

module_init(bb_procs_init);
module_exit(bb_procs_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("brokerbench");
MODULE_DESCRIPTION("Host processes as JSON in /proc/bb_procs");
