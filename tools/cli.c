/* SPDX-License-Identifier: MIT */
/* Helpers shared by the sgxemu subcommands (cli.h). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

int cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sgxemu %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sgxemu %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see 'sgxemu %s --help')\n", cmd);
	va_end(ap);
	return 2;
}

int cli_write_file(const char *path, const void *data, size_t len, mode_t mode, bool replace, char *err, size_t errlen)
{
	char *copy = strdup(path);
	size_t tlen = strlen(path) + 32;
	char *tmp = malloc(tlen);
	if (!copy || !tmp) {
		free(copy);
		free(tmp);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	/* The temporary file lives next to path: rename() is atomic only within one file system. */
	char *base = basename(copy);
	size_t dlen = (size_t)(base - copy);
	snprintf(tmp, tlen, "%.*s.%s.XXXXXX", (int)dlen, path, base);
	int rc = -1;
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
		goto out;
	}
	const uint8_t *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out_tmp;
		}
		p += w;
		left -= (size_t)w;
	}
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(fd, mode & ~mask) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out_tmp;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out_tmp;
	}
	fd = -1;
	int r;
	if (replace) {
		r = rename(tmp, path);
	} else {
		r = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
		if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
			/* File systems without RENAME_NOREPLACE: link() refuses an existing name too. */
			r = link(tmp, path);
			if (r == 0)
				unlink(tmp);
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EEXIST ? "file exists" : strerror(errno));
		goto out_tmp;
	}
	rc = 0;
	goto out;
out_tmp:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	free(copy);
	return rc;
}

int cli_option(int argc, char **argv, int *i, const char *name, const char **value)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (a[n])
		return 0;
	*value = *i + 1 < argc ? argv[++*i] : NULL;
	return 1;
}

int cli_layout_option(const char *cmd, int argc, char **argv, int *i, struct cli_setting *set, size_t *n)
{
	const char *a = argv[*i];
	if (strncmp(a, "--", 2) != 0 || !a[2])
		return 0;
	const char *key = a + 2, *eq = strchr(key, '=');
	size_t klen = eq ? (size_t)(eq - key) : strlen(key);
	char name[64];
	if (klen >= sizeof(name))
		return 0;
	memcpy(name, key, klen);
	name[klen] = '\0';
	enum sdk_key_kind kind = sdk_config_key_kind(name);
	if (kind == SDK_KEY_UNKNOWN)
		return 0;
	const char *value;
	if (eq)
		value = eq + 1;
	else if (kind == SDK_KEY_BOOL)
		value = "true";
	else if (*i + 1 < argc)
		value = argv[++*i];
	else
		return cli_usage(cmd, "option '%s' needs a value", a), -1;
	set[(*n)++] = (struct cli_setting){.key = key, .key_len = klen, .value = value, .arg = a};
	return 1;
}

int cli_parse_layout_args(const char *cmd, int argc, char **argv, cli_own_option_fn own, void *ctx,
			  struct cli_layout_args *a)
{
	*a = (struct cli_layout_args){.set = calloc((size_t)argc, sizeof(*a->set))};
	if (!a->set)
		return cli_fail(cmd, "out of memory");
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v;
		if (!dashdash && arg[0] == '-' && arg[1]) {
			int r;
			if (strcmp(arg, "--") == 0) {
				dashdash = true;
			} else if ((r = own(argc, argv, &i, ctx)) != 0) {
				if (r < 0)
					return cli_usage(cmd, "option '%s' needs a value", arg);
			} else if (cli_option(argc, argv, &i, "--config", &v)) {
				if (!(a->config = v))
					return cli_usage(cmd, "option '%s' needs a value", arg);
			} else if ((r = cli_layout_option(cmd, argc, argv, &i, a->set, &a->nset)) != 0) {
				if (r < 0)
					return 2;
			} else {
				return cli_usage(cmd, "unknown option '%s'", arg);
			}
			continue;
		}
		if (a->elf)
			return cli_usage(cmd, "unexpected argument '%s'", arg);
		a->elf = arg;
	}
	return 0;
}

void cli_layout_args_free(struct cli_layout_args *a)
{
	free(a->set);
	a->set = NULL;
	a->nset = 0;
}

int cli_build_config(const char *cmd, struct sdk_config *c, const char *config, const struct cli_setting *set, size_t n)
{
	char err[512];
	sdk_config_default(c);
	if (config && sdk_config_load(c, config, err, sizeof(err)))
		return cli_fail(cmd, "%s", err);
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)set[i].key_len, set[i].key);
		if (sdk_config_set(c, key, set[i].value, err, sizeof(err)))
			return cli_usage(cmd, "--%s: %s", key, err);
	}
	return 0;
}

static void names(uint64_t v, const char *const *tab, size_t ntab, char *out, size_t len)
{
	size_t pos = 0;
	out[0] = '\0';
	for (size_t b = 0; b < 64; b++) {
		if (!(v & (1ULL << b)))
			continue;
		char unknown[16];
		const char *name =
		    b < ntab && tab[b] ? tab[b] : (snprintf(unknown, sizeof(unknown), "bit%zu", b), unknown);
		int w = snprintf(out + pos, len - pos, "%s%s", pos ? " " : "", name);
		if (w < 0 || (size_t)w >= len - pos)
			break;
		pos += (size_t)w;
	}
	if (!pos)
		snprintf(out, len, "-");
}

void cli_attribute_names(uint64_t flags, char *out, size_t len)
{
	static const char *const tab[] = {"INIT", "DEBUG", "MODE64BIT", NULL, "PROVISIONKEY", "EINITTOKEN_KEY",
					  "CET",  "KSS",   NULL,	NULL, "AEXNOTIFY"};
	names(flags, tab, sizeof(tab) / sizeof(tab[0]), out, len);
}

void cli_xfrm_names(uint64_t xfrm, char *out, size_t len)
{
	sdk_xfrm_names(xfrm, out, len);
}

void cli_hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}
