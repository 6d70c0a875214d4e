#!/bin/busybox sh
# /init of the vm-test.sh guest (pid 1; its comm is "init", the script's
# file name). It exercises bb_ram and bb_procs and prints every result
# between "@@BB-BEGIN <name>@@" and "@@BB-END <name>@@" lines on the
# serial console; vm-test.sh cuts those sections into files and the Rust
# test host_vm checks them. It never stops on an error: failures show up as
# missing or wrong sections, and the guest always powers off.
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# Console loglevel 1: kernel messages (such as the "taints kernel" note on
# loading an unsigned module) must not interleave with the sections.
echo 1 >/proc/sys/kernel/printk
# End whatever the firmware left on the current console line.
echo

begin() { echo "@@BB-BEGIN $1@@"; }
end() { echo "@@BB-END $1@@"; }
section() { # section NAME FILE
	begin "$1"
	cat "$2"
	end "$1"
}
status() { echo "$1=$2" >>/tmp/status; }

: >/tmp/status
status uptime_at_init "$(cut -d' ' -f1 /proc/uptime)"

insmod /lib/modules/bb_ram.ko
status insmod_bb_ram $?
insmod /lib/modules/bb_procs.ko
status insmod_bb_procs $?
status mode_bb_ram "$(stat -c %a /proc/bb_ram)"
status mode_bb_procs "$(stat -c %a /proc/bb_procs)"
# Read-only file: a write must be refused.
if echo x 2>/dev/null >/proc/bb_ram; then status write_refused no; else status write_refused yes; fi

section ram-1 /proc/bb_ram
section procs-1 /proc/bb_procs

# Processes whose comm needs JSON escaping. For a script, the kernel sets
# comm to the script's file name, and the shell keeps running the script
# while `sleep` runs as its child.
quote_name='a"b\c'
ctrl_name="$(printf 'tab\t\303\274')"
# 14 bytes of "a", then a two-byte "\303\274": comm keeps 15 bytes and so
# ends in half a character.
cut_name="$(printf 'aaaaaaaaaaaaaa\303\274')"
for name in "$quote_name" "$ctrl_name" "$cut_name"; do
	printf '#!/bin/sh\nsleep 600\n' >"/tmp/$name"
	chmod 755 "/tmp/$name"
done
"/tmp/$quote_name" &
quote_pid=$!
"/tmp/$ctrl_name" &
ctrl_pid=$!
"/tmp/$cut_name" &
cut_pid=$!
# A zombie: the exec'd sleep 600 inherits the short sleep as its child
# and never waits for it.
sh -c 'sleep 1 & exec sleep 600' &
zombie_parent=$!
# A stopped process.
sleep 600 &
stopped_pid=$!
kill -STOP "$stopped_pid"
sleep 2

begin pids
echo "quote=$quote_pid"
echo "ctrl=$ctrl_pid"
echo "cut=$cut_pid"
echo "zombie_parent=$zombie_parent"
echo "stopped=$stopped_pid"
end pids
if [ "$(cat "/proc/$quote_pid/comm")" = "$quote_name" ]; then status comm_quote ok; else status comm_quote bad; fi
if [ "$(cat "/proc/$ctrl_pid/comm")" = "$ctrl_name" ]; then status comm_ctrl ok; else status comm_ctrl bad; fi

section procs-2 /proc/bb_procs
# The same processes through plain /proc, right after: vm-test.sh unpacks
# this into a directory on which the Rust /proc fallback runs, and the test
# compares both sources.
mkdir /tmp/procsnap
for dir in /proc/[0-9]*; do
	pid=${dir#/proc/}
	mkdir "/tmp/procsnap/$pid"
	cat "$dir/stat" >"/tmp/procsnap/$pid/stat" 2>/dev/null
	cat "$dir/status" >"/tmp/procsnap/$pid/status" 2>/dev/null
done
tar -c -C /tmp/procsnap . | gzip | base64 >/tmp/procsnap.b64
section procsnap /tmp/procsnap.b64
# Back to back, so the two RAM views differ by as little as possible.
cat /proc/bb_ram >/tmp/ram-2
cat /proc/meminfo >/tmp/meminfo
section ram-2 /tmp/ram-2
section meminfo /tmp/meminfo

kill -CONT "$stopped_pid"
kill "$quote_pid" "$ctrl_pid" "$cut_pid" "$zombie_parent" "$stopped_pid" 2>/dev/null

rmmod bb_procs
status rmmod_bb_procs $?
rmmod bb_ram
status rmmod_bb_ram $?
if [ -e /proc/bb_ram ] || [ -e /proc/bb_procs ]; then status gone_after_rmmod no; else status gone_after_rmmod yes; fi
status uptime_at_end "$(cut -d' ' -f1 /proc/uptime)"

section status /tmp/status
dmesg >/tmp/dmesg
section dmesg /tmp/dmesg
echo "@@BB-DONE@@"
poweroff -f
