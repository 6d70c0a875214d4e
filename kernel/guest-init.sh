#!/bin/busybox sh
# /init of the vm-test.sh guest (pid 1; its comm is "init", the script's
# file name). It exercises bb_ram and bb_procs and prints every result
# between "@@BB-BEGIN <name>@@" and "@@BB-END <name>@@" lines on the
# serial console; vm-test.sh cuts those sections into files and the Rust
# test host_vm checks them; vm-test.sh itself checks the key=value lines of
# the status section that the Rust test does not know. It never stops on an
# error: failures show up as missing or wrong sections or values, and the
# guest always powers off.
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
yes_if() { # yes_if KEY COMMAND...: status KEY=yes if COMMAND succeeds, else no
	local key=$1
	shift
	if "$@"; then status "$key" yes; else status "$key" no; fi
}
# "ok" if FILE is one bb_procs object, entries separated by single commas,
# whose counts add up to its number of entries; else what is wrong with it.
# (Names are JSON-escaped, so '{"pid":' cannot occur inside one.)
json_check() {
	awk '
		{ lines++; text = $0 }
		END {
			if (lines != 1) { print "lines:" lines; exit }
			if (text !~ /^[{]"processes":\[([{]"pid":|\])/) { print "head"; exit }
			entries = gsub(/[{]"pid":/, "&", text)
			joints = gsub(/[}],[{]"pid":/, "&", text)
			if (entries && joints != entries - 1) { print "commas"; exit }
			if (!match(text, /"counts":[{]"running":[0-9]+,"sleeping":[0-9]+,"stopped":[0-9]+,"zombie":[0-9]+,"total":[0-9]+[}][}]$/)) { print "tail"; exit }
			s = substr(text, RSTART + 9)
			gsub(/[^0-9,]/, "", s)
			split(s, c, ",")
			if (c[1] + c[2] + c[3] + c[4] != c[5] || c[5] != entries) { print "counts:" s ",entries:" entries; exit }
			print "ok"
		}' "$1"
}
# Number of entries in bb_procs output FILE whose parent is PID.
children_listed() { grep -o "\"ppid\":$2," "$1" | wc -l; }
listed() { grep -q "{\"pid\":$2," "$1"; } # listed FILE PID
all_listed() { # all_listed FILE PID...: at least one PID, and all listed
	local file=$1 pid
	shift
	[ $# -gt 0 ] || return 1
	for pid in "$@"; do listed "$file" "$pid" || return 1; done
}
no_root_listed() { ! grep -q '"uid":0,' "$1"; } # no_root_listed FILE

# 2,000 processes (children of one spawner, so they can be counted by
# ppid): all must be listed, by one plain read and by many small ones, each
# of which resumes the iterator somewhere inside an entry.
many_processes() {
	many=2000
	sh -c "i=0; while [ \$i -lt $many ]; do sleep 600 & i=\$((i + 1)); done; : >/tmp/spawned; exec sleep 600" \
		</dev/null >/dev/null 2>&1 &
	spawner=$!
	while [ ! -e /tmp/spawned ]; do sleep 1; done
	status many_spawned "$(grep -l "^PPid:[[:space:]]*$spawner\$" /proc/[0-9]*/status | wc -l)"
	t0=$(cut -d' ' -f1 /proc/uptime)
	cat /proc/bb_procs >/tmp/procs-many
	status many_read_rc $?
	status many_read_s "$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }')"
	status many_bytes "$(wc -c </tmp/procs-many)"
	status many_listed "$(children_listed /tmp/procs-many "$spawner")"
	status many_json "$(json_check /tmp/procs-many)"
	dd if=/proc/bb_procs of=/tmp/procs-small bs=100 2>/dev/null
	status small_reads_listed "$(children_listed /tmp/procs-small "$spawner")"
	status small_reads_json "$(json_check /tmp/procs-small)"
}

# The file is produced while it is read, not built whole on the first
# read: a process started after the first 4 KiB were read (so with a
# higher pid than any entry so far) is in the rest.
streaming() {
	exec 3</proc/bb_procs
	dd bs=4096 count=1 <&3 >/tmp/stream 2>/dev/null
	sleep 600 </dev/null >/dev/null 2>&1 &
	late=$!
	cat <&3 >>/tmp/stream
	exec 3<&-
	yes_if streamed listed /tmp/stream "$late"
	status stream_json "$(json_check /tmp/stream)"
}

# hidepid: two more /proc mounts with hidepid=1 and 2 (each mount has its
# own options); an unprivileged user reads bb_procs through each of them
# and through the plain /proc.
hidepid() {
	mkdir -p /etc /proc-h1 /proc-h2
	printf 'root:x:0:0::/:/bin/sh\nbbuser:x:1000:1000::/tmp:/bin/sh\n' >/etc/passwd
	printf 'root:x:0:\nbbuser:x:1000:\n' >/etc/group
	mount -t proc -o hidepid=1 proc /proc-h1
	mount -t proc -o hidepid=2 proc /proc-h2
	su -s /bin/sh -c 'for i in 1 2; do sleep 600 </dev/null >/dev/null 2>&1 & echo $!; done' \
		bbuser >/tmp/user-pids
	for dir in proc proc-h1 proc-h2; do
		su -s /bin/sh -c "cat /$dir/bb_procs" bbuser >"/tmp/user-$dir"
	done
	cat /proc-h2/bb_procs >/tmp/root-proc-h2
	section user-proc-h2 /tmp/user-proc-h2

	yes_if hidepid0_user_sees_root listed /tmp/user-proc 1
	for level in 1 2; do
		yes_if "hidepid${level}_root_hidden" no_root_listed "/tmp/user-proc-h$level"
		# shellcheck disable=SC2046 # one pid a line
		yes_if "hidepid${level}_own_listed" \
			all_listed "/tmp/user-proc-h$level" $(cat /tmp/user-pids)
		status "hidepid${level}_json" "$(json_check "/tmp/user-proc-h$level")"
	done
	yes_if hidepid2_root_sees_all \
		test "$(children_listed /tmp/root-proc-h2 "$spawner")" -eq "$many"
}

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

many_processes
streaming
hidepid

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
