#!/usr/bin/env bash
# Tests bb_ram and bb_procs in a real kernel: builds them against Debian's
# linux-headers-amd64, boots the matching /boot/vmlinuz in QEMU (software
# emulation, so it works without /dev/kvm and without loading anything into
# the host kernel) with a busybox initramfs whose /init (guest-init.sh)
# loads, reads and unloads the modules, then checks the guest's output with
# the project's own Rust parser (common/tests/host_vm.rs).
#
# Usage: kernel/vm-test.sh            (from anywhere; needs root for apt-get
#                                      only when packages are missing)
# Env:   BB_KERNEL_VM_DIR   work dir  (default: <repo>/.stack/kernel-vm)
#        BB_KERNEL_VM_TIMEOUT seconds for the whole VM run (default: 90)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
work=${BB_KERNEL_VM_DIR:-$root/.stack/kernel-vm}
vm_timeout=${BB_KERNEL_VM_TIMEOUT:-90}

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
	cp "$here/Makefile" "$here/bb_ram.c" "$here/bb_procs.c" "$build/"
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

main() {
	local release kdir start end elapsed
	mkdir -p "$work"
	ensure_packages
	release=$(kernel_version) || fail "no /boot/vmlinuz-*-amd64 with matching headers"
	kdir=/usr/src/linux-headers-$release
	step "kernel $release, headers $kdir, work dir $work"

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

	step "checking the guest output with the Rust reader"
	(cd "$root" && BB_KERNEL_VM_OUT="$work/out" \
		cargo test --release -p brokerbench-common --test host_vm -- --ignored --nocapture) ||
		fail "host_vm checks failed (sections in $work/out)"
	echo "vm-test: PASS (kernel $release, VM run ${elapsed}s)"
}

main "$@"
