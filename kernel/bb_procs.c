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
 *                pid namespace of the /proc mount the file is opened
 *                through, like /proc/<pid> (tasks invisible there are
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
 * Who sees what: with the mount's hidepid=0 every process is listed; with
 * hidepid=1, 2 or 4 only those whose /proc/<pid> files the opener of
 * bb_procs could read (see bb_may_list()).
 *
 * The file is a seq_file iterator, one record per process in tgid order,
 * like readdir of /proc: each step looks up the next process under a short
 * RCU section and takes a reference, so a read never holds RCU across the
 * whole list, and a record that does not fit in seq_file's buffer is shown
 * again on its own rather than the whole list being redone with a buffer
 * twice as large.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/threads.h>
#include <linux/uidgid.h>

#include "bb_procs_access.h"
#include "bb_procs_json.h"

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

/*
 * State of one open file. Positions (seq_file's index): 0 is the opening
 * '{"processes":[', a tgid (1 .. PID_MAX_LIMIT - 1) that process's entry
 * and BB_POS_TAIL the closing counts, so a read resumes from the position
 * alone even if the process it stopped at has exited since.
 */
struct bb_iter {
	struct proc_fs_info *fs;	/* /proc mount the file was opened in */
	struct task_struct *task;	/* process being shown, referenced */
	pid_t tgid;			/* its tgid in fs->pid_ns */
	char pending;			/* its state letter, once shown */
	struct bb_counts counts;	/* entries kept so far */
};

#define BB_POS_TAIL ((loff_t)PID_MAX_LIMIT)

static struct proc_dir_entry *bb_procs_entry;

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

/* RSS in KiB, and comm copied while exec cannot change it. */
static unsigned long bb_comm_and_rss(struct task_struct *p, char *comm)
{
	unsigned long rss = 0;

	/*
	 * task_lock() is what exit_mm() and exec take to change p->mm, so
	 * while it is held a non-NULL mm cannot be released under us. It also
	 * keeps comm from changing half-way through the copy.
	 */
	task_lock(p);
	strscpy(comm, p->comm, TASK_COMM_LEN);
	if (p->mm && !(p->flags & PF_KTHREAD))
		rss = get_mm_rss(p->mm) << (PAGE_SHIFT - 10);
	task_unlock(p);
	return rss;
}

/*
 * One process entry. The task is referenced, so no RCU is needed except
 * for its parent pointer. Its state letter is only counted when seq_file
 * moves past the entry (bb_next()): an entry that does not fit in the
 * buffer is dropped and shown again, possibly in another state.
 */
static int bb_show_task(struct seq_file *m, struct bb_iter *it)
{
	struct pid_namespace *ns = it->fs->pid_ns;
	struct task_struct *p = it->task;
	char comm[TASK_COMM_LEN];
	unsigned long rss;
	unsigned int idx;
	pid_t ppid = 0;

	it->pending = 0;
	/* Reaped since it was found, or hidden from this reader. */
	if (!pid_alive(p) || !bb_may_list(m, it->fs, p))
		return SEQ_SKIP;

	rcu_read_lock();
	/* pid_alive() guards real_parent of a task that is being released. */
	if (pid_alive(p))
		ppid = task_tgid_nr_ns(rcu_dereference(p->real_parent), ns);
	rcu_read_unlock();
	idx = task_state_index(p);
	rss = bb_comm_and_rss(p, comm);

	if (it->counts.total)
		seq_putc(m, ',');
	seq_printf(m, "{\"pid\":%d,\"ppid\":%d,\"name\":", it->tgid, ppid);
	bb_json_put_name(m, comm);
	seq_printf(m,
		   ",\"state\":\"%c\",\"state_word\":\"%s\",\"uid\":%u,"
		   "\"rss_kib\":%lu,\"threads\":%d}",
		   task_index_to_char(idx), bb_state_words[idx],
		   from_kuid_munged(seq_user_ns(m), task_uid(p)), rss,
		   get_nr_threads(p));
	it->pending = task_index_to_char(idx);
	return 0;
}

static void bb_show_counts(struct seq_file *m, const struct bb_counts *c)
{
	seq_printf(m,
		   "],\"counts\":{\"running\":%lu,\"sleeping\":%lu,"
		   "\"stopped\":%lu,\"zombie\":%lu,\"total\":%lu}}\n",
		   c->running, c->sleeping, c->stopped, c->zombie, c->total);
}

static void bb_put_task(struct bb_iter *it)
{
	if (it->task)
		put_task_struct(it->task);
	it->task = NULL;
}

/*
 * Moves to the first process with a tgid >= @tgid, as next_tgid() in
 * fs/proc/base.c does for readdir of /proc: one pid lookup under RCU, then
 * a reference so that the entry is shown without RCU. Returns the record
 * for seq_file: @it for a process, &it->counts after the last one.
 */
static void *bb_seek(struct bb_iter *it, pid_t tgid, loff_t *pos)
{
	struct pid_namespace *ns = it->fs->pid_ns;
	struct pid *pid;

	bb_put_task(it);
	rcu_read_lock();
	while ((pid = find_ge_pid(tgid, ns))) {
		tgid = pid_nr_ns(pid, ns);
		it->task = pid_task(pid, PIDTYPE_TGID);
		if (it->task) {
			get_task_struct(it->task);
			break;
		}
		tgid++;		/* the pid of a thread, not of a process */
	}
	rcu_read_unlock();
	if (!it->task) {
		*pos = BB_POS_TAIL;
		return &it->counts;
	}
	it->tgid = tgid;
	*pos = tgid;
	return it;
}

static void *bb_start(struct seq_file *m, loff_t *pos)
{
	struct bb_iter *it = m->private;

	it->pending = 0;
	if (*pos == 0) {
		/* Reading from the beginning (again): count afresh. */
		memset(&it->counts, 0, sizeof(it->counts));
		return SEQ_START_TOKEN;
	}
	if (*pos < BB_POS_TAIL)
		return bb_seek(it, (pid_t)*pos, pos);
	return *pos == BB_POS_TAIL ? &it->counts : NULL;
}

/*
 * seq_file calls next() exactly once for each record it keeps (and after
 * a skipped one), never for one it drops because the buffer is full, so
 * this is where a shown process is counted.
 */
static void *bb_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct bb_iter *it = m->private;

	if (it->pending)
		bb_count(&it->counts, it->pending);
	it->pending = 0;
	if (v == &it->counts) {
		*pos = BB_POS_TAIL + 1;
		return NULL;
	}
	/* One read() may go through thousands of entries: yield in between. */
	cond_resched();
	return bb_seek(it, v == SEQ_START_TOKEN ? 1 : it->tgid + 1, pos);
}

static void bb_stop(struct seq_file *m, void *v)
{
	bb_put_task(m->private);
}

static int bb_show(struct seq_file *m, void *v)
{
	struct bb_iter *it = m->private;

	BUILD_BUG_ON(1 + ilog2(TASK_REPORT_MAX) != ARRAY_SIZE(bb_state_words));

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "{\"processes\":[");
		return 0;
	}
	if (v == &it->counts) {
		bb_show_counts(m, &it->counts);
		return 0;
	}
	return bb_show_task(m, it);
}

static const struct seq_operations bb_procs_seq_ops = {
	.start = bb_start,
	.next = bb_next,
	.stop = bb_stop,
	.show = bb_show,
};

static int bb_procs_open(struct inode *inode, struct file *file)
{
	struct bb_iter *it;

	it = __seq_open_private(file, &bb_procs_seq_ops, sizeof(*it));
	if (!it)
		return -ENOMEM;
	/* The open file pins the mount, and so its proc_fs_info. */
	it->fs = proc_sb_info(inode->i_sb);
	return 0;
}

/* Read-only: no .proc_write, and the entry is created with mode 0444. */
static const struct proc_ops bb_procs_ops = {
	.proc_open = bb_procs_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = seq_release_private,
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
