/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who may see a process in bb_procs: /proc's hidepid rule and the
 * ptrace-read checks it relies on, repeated here because the kernel does
 * not export them to modules. Included by bb_procs.c only.
 */
#ifndef BB_PROCS_ACCESS_H
#define BB_PROCS_ACCESS_H

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/uidgid.h>

/* CAP_SYS_PTRACE over @ns, without an audit record for every hidden task. */
static bool bb_ptrace_cap(struct user_namespace *ns)
{
	return ns_capable_noaudit(ns, CAP_SYS_PTRACE);
}

/*
 * The credential tests that PTRACE_MODE_READ_FSCREDS makes, in
 * __ptrace_may_access() and in the commoncap LSM: the reader's fsuid and
 * fsgid equal all three uids and gids of the task, in the same user
 * namespace, and the task holds no capability the reader lacks; or the
 * reader has CAP_SYS_PTRACE over the task's user namespace.
 */
static bool bb_cred_may_read(const struct cred *me, const struct cred *tc)
{
	if (uid_eq(me->fsuid, tc->uid) && uid_eq(me->fsuid, tc->euid) &&
	    uid_eq(me->fsuid, tc->suid) && gid_eq(me->fsgid, tc->gid) &&
	    gid_eq(me->fsgid, tc->egid) && gid_eq(me->fsgid, tc->sgid) &&
	    me->user_ns == tc->user_ns &&
	    cap_issubset(tc->cap_permitted, me->cap_effective))
		return true;
	return bb_ptrace_cap(tc->user_ns);
}

/*
 * ptrace_may_access(p, PTRACE_MODE_READ_FSCREDS), which hidepid relies on,
 * is not exported to modules, so this repeats its checks for the current
 * credentials: bb_cred_may_read(), and a task that made itself
 * non-dumpable (a setuid program, prctl) needs CAP_SYS_PTRACE over its
 * mm's namespace. Left out: further LSMs (AppArmor, SELinux), which can
 * only deny more; Yama restricts attaching, not reading.
 */
static bool bb_may_ptrace_read(struct task_struct *p)
{
	struct mm_struct *mm;
	bool ok;

	/* task_lock() keeps p->mm from being released, as ptrace does. */
	task_lock(p);
	rcu_read_lock();
	ok = bb_cred_may_read(current_cred(), __task_cred(p));
	rcu_read_unlock();
	/* Credentials before dumpability: pairs with commit_creds(). */
	smp_rmb();
	mm = p->mm;
	if (ok && mm && get_dumpable(mm) != SUID_DUMP_USER)
		ok = bb_ptrace_cap(mm->user_ns);
	task_unlock(p);
	return ok;
}

/*
 * hidepid as has_pid_permissions() in fs/proc/base.c applies it to the
 * files of /proc/<pid>, which is what an entry here reveals: with
 * hidepid=1 or 2, members of the mount's gid= group see every process and
 * others those they may ptrace-read; with hidepid=4 only the latter counts.
 *
 * The check uses the credentials of whoever opened the file, not of
 * whoever reads it, so handing an open descriptor to a more privileged
 * program (a setuid one reading its stdin) reveals nothing more.
 */
static bool bb_may_list(struct seq_file *m, struct proc_fs_info *fs,
			struct task_struct *p)
{
	const struct cred *old;
	bool ok;

	if (fs->hide_pid == HIDEPID_OFF)
		return true;
	old = override_creds(m->file->f_cred);
	ok = (fs->hide_pid != HIDEPID_NOT_PTRACEABLE &&
	      in_group_p(fs->pid_gid)) || bb_may_ptrace_read(p);
	revert_creds(old);
	return ok;
}

#endif /* BB_PROCS_ACCESS_H */
