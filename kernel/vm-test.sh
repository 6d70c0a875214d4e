#!/usr/bin/env bash
# Tests bb_ram and bb_procs in a real kernel: builds them against Debian's
# linux-headers-amd64, boots the matching /boot/vmlinuz in QEMU (software
# emulation, so it works without /dev/kvm and without loading anything into
# the host kernel) with a busybox initramfs whose /init (guest-init.sh)
# loads, reads and unloads the modules, then checks the guest's output with
# the project's own Rust parser (common/tests/host_vm.rs) and the guest's
# own checks (2,000 processes, streaming, hidepid) in check_guest_status.
# Before that, bb_ram's arithmetic runs as 32-bit C (bb_ram_math_test.c).
#
# Usage: kernel/vm-test.sh            (from anywhere; needs root for apt-get
#                                      only when packages are missing)
# Env:   BB_KERNEL_VM_DIR   work dir  (default: <repo>/.stack/kernel-vm)
#        BB_KERNEL_VM_TIMEOUT seconds for the whole VM run (default: 120)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
work=${BB_KERNEL_VM_DIR:-$root/.stack/kernel-vm}
vm_timeout=${BB_KERNEL_VM_TIMEOUT:-120}

step() { printf '==> %s\n' "$*"; }
fail() {
	printf 'vm-test: FAIL: %s\n' "$*" >&2
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		fail "need root to run: $*"
	fi
}

# Newest installed Debian kernel that has its headers, e.g. 6.1.0-56-amd64.
kernel_version() {
	local vmlinuz version
	for vmlinuz in $(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -rV); do
		version=${vmlinuz#/boot/vmlinuz-}
		if [ -f "/usr/src/linux-headers-$version/Makefile" ]; then
			echo "$version"
			return 0
		fi
	done
	return 1
}

# Installs only what is missing, with one apt-get update at most.
ensure_packages() {
	local missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v gzip >/dev/null || missing+=(gzip)
	command -v make >/dev/null || missing+=(make)
	command -v gcc >/dev/null || missing+=(gcc)
	command -v modinfo >/dev/null || missing+=(kmod)
	command -v timeout >/dev/null || missing+=(coreutils)
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
		missing+=(busybox-static)
	# gcc -m32 for bb_ram_math_test.c.
	dpkg-query -W -f='${Status}' gcc-multilib 2>/dev/null | grep -q 'ok installed' ||
		missing+=(gcc-multilib)
	kernel_version >/dev/null || missing+=(linux-image-amd64 linux-headers-amd64)
	if [ ${#missing[@]} -gt 0 ]; then
		step "installing ${missing[*]}"
		as_root apt-get -o DPkg::Lock::Timeout=600 update
		as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
	fi
}

build_modules() { # build_modules KDIR RELEASE
	local kdir=$1 release=$2 build=$work/build ko magic
	rm -rf "$build"
	mkdir -p "$build"
	cp "$here/Makefile" "$here/bb_ram.c" "$here/bb_ram_math.h" "$here/bb_procs.c" \
		"$here/bb_procs_access.h" "$here/bb_procs_json.h" "$build/"
	make -C "$build" KDIR="$kdir" W=1 >"$work/build.log" 2>&1 ||
		{ cat "$work/build.log"; fail "module build failed"; }
	if grep -Ei 'warning:|error:' "$work/build.log"; then
		fail "module build printed warnings (see $work/build.log)"
	fi
	for ko in bb_ram bb_procs; do
		magic=$(modinfo -F vermagic "$build/$ko.ko")
		[ "${magic%% *}" = "$release" ] ||
			fail "$ko.ko vermagic '$magic' does not match $release"
	done
}

# bb_ram's arithmetic as a 32-bit kernel runs it: unsigned long has 32 bits
# under -m32, so a product that wraps there fails the test.
math_test() {
	gcc -m32 -std=gnu11 -O2 -Wall -Wextra -Werror -I"$here" \
		"$here/bb_ram_math_test.c" -o "$work/bb_ram_math_test" ||
		fail "could not build bb_ram_math_test.c with gcc -m32"
	"$work/bb_ram_math_test" || fail "bb_ram_math.h is wrong on 32 bits"
}

build_initramfs() {
	local dir=$work/initramfs
	rm -rf "$dir"
	mkdir -p "$dir/bin" "$dir/dev" "$dir/lib/modules" "$dir/proc" "$dir/sys" "$dir/tmp"
	cp /bin/busybox "$dir/bin/busybox"
	cp "$here/guest-init.sh" "$dir/init"
	chmod 755 "$dir/init"
	cp "$work/build/bb_ram.ko" "$work/build/bb_procs.ko" "$dir/lib/modules/"
	# The kernel's built-in initramfs already has /dev/console; adding it
	# again (possible only as root) covers kernels built without it.
	if [ "$(id -u)" -eq 0 ]; then
		mknod -m 600 "$dir/dev/console" c 5 1
	fi
	(cd "$dir" && find . -print0 | cpio --null -o -H newc --quiet) |
		gzip -1 >"$work/initramfs.cpio.gz"
}

# Cuts "@@BB-BEGIN name@@" ... "@@BB-END name@@" blocks into out/<name>.
# A marker may follow firmware escape codes on the same console line.
split_sections() {
	rm -rf "$work/out"
	mkdir -p "$work/out"
	tr -d '\r' <"$work/console.log" | awk -v out="$work/out" '
		match($0, /@@BB-BEGIN [^@]+@@$/) {
			file = out "/" substr($0, RSTART + 11, RLENGTH - 13)
			printf "" >file
			next
		}
		/@@BB-END [^@]+@@$/ { close(file); file = ""; next }
		file != "" { print >> file }
	'
}

# The guest's own checks, which host_vm.rs does not know: every line here
# must be in the status section as it stands. Prints each mismatch and
# returns non-zero if there is any.
check_guest_status() {
	local status=$work/out/status line key bad=0
	local -a expected=(
		many_spawned=2000 many_read_rc=0 many_listed=2000 many_json=ok
		small_reads_listed=2000 small_reads_json=ok
		streamed=yes stream_json=ok
		hidepid0_user_sees_root=yes
		hidepid1_root_hidden=yes hidepid1_own_listed=yes hidepid1_json=ok
		hidepid2_root_hidden=yes hidepid2_own_listed=yes hidepid2_json=ok
		hidepid2_root_sees_all=yes
	)
	for line in "${expected[@]}"; do
		grep -qx -- "$line" "$status" && continue
		key=${line%%=*}
		printf 'vm-test: guest check %s: got %s\n' "$line" \
			"$(grep -m1 "^$key=" "$status" || echo "$key missing")" >&2
		bad=1
	done
	return "$bad"
}

main() {
	local release kdir start end elapsed
	mkdir -p "$work"
	ensure_packages
	release=$(kernel_version) || fail "no /boot/vmlinuz-*-amd64 with matching headers"
	kdir=/usr/src/linux-headers-$release
	step "kernel $release, headers $kdir, work dir $work"

	step "checking bb_ram's arithmetic as 32-bit C"
	math_test
	step "building modules (W=1)"
	build_modules "$kdir" "$release"
	step "building initramfs"
	build_initramfs

	step "booting /boot/vmlinuz-$release in qemu (tcg, timeout ${vm_timeout}s)"
	start=$(date +%s.%N)
	timeout "$vm_timeout" qemu-system-x86_64 \
		-accel tcg -nographic -no-reboot -m 512 -smp 1 -nic none \
		-kernel "/boot/vmlinuz-$release" \
		-initrd "$work/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet" \
		</dev/null >"$work/console.log" 2>&1 ||
		{ tail -n 40 "$work/console.log"; fail "qemu failed or timed out after ${vm_timeout}s"; }
	end=$(date +%s.%N)
	elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	step "guest finished in ${elapsed}s (log: $work/console.log)"
	grep -q '^@@BB-DONE@@' <(tr -d '\r' <"$work/console.log") ||
		{ tail -n 40 "$work/console.log"; fail "guest did not reach the end of /init"; }
	split_sections
	# The guest's /proc/<pid>/{stat,status} as a directory for the fallback
	# reader, with the meminfo read right after /proc/bb_ram.
	mkdir -p "$work/out/proc"
	base64 -d <"$work/out/procsnap" | tar -xz -C "$work/out/proc" ||
		fail "could not unpack the guest's /proc snapshot"
	cp "$work/out/meminfo" "$work/out/proc/meminfo"
	sed 's/^/    guest: /' "$work/out/status"

	step "checking the guest's own results"
	local guest_ok=yes
	check_guest_status || guest_ok=no
	step "checking the guest output with the Rust reader"
	# --workspace, not -p brokerbench-common: one package alone unifies its dependencies'
	# features differently and recompiled all of them (3 min 21 s in a fresh `make test`).
	(cd "$root" && BB_KERNEL_VM_OUT="$work/out" \
		cargo test --release --workspace --test host_vm -- --ignored --nocapture) ||
		fail "host_vm checks failed (sections in $work/out)"
	[ "$guest_ok" = yes ] || fail "guest checks failed (status in $work/out/status)"
	echo "vm-test: PASS (kernel $release, VM run ${elapsed}s)"
}

main "$@"
