/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bb_procs's JSON string output: a process name written so that the JSON
 * stays valid whatever bytes the name holds. Included by bb_procs.c only.
 */
#ifndef BB_PROCS_JSON_H
#define BB_PROCS_JSON_H

#include <linux/seq_file.h>
#include <linux/string.h>

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

#endif /* BB_PROCS_JSON_H */
