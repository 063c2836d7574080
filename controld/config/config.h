/* SPDX-License-Identifier: MIT */
/*
 * config.h — Moat's declarative configuration: parse, validate, compile to a model.
 *
 * The text (SRX-style braces and semicolons, `#` comments) is parsed into a generic tree
 * (config_tree.h), then compiled into the typed model below. Every error carries the file
 * name, line and column of the token it is about and a sentence an operator can act on.
 *
 * The model is plain data owned by one struct moat_config; config_free() releases it all.
 */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_ERR_MAX 512

/* An error as shown to the operator: "FILE:LINE:COL: message". */
struct config_error {
	char file[256];
	unsigned line;
	unsigned col;
	char message[CONFIG_ERR_MAX];
};

/* An address prefix. family is 4 or 6; IPv4 uses addr[0..3]. */
struct cfg_prefix {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
};

enum cfg_dataplane_mode { CFG_MODE_AUTO = 0, CFG_MODE_USERSPACE, CFG_MODE_LEGACY };

struct cfg_system {
	char host_name[64];
	enum cfg_dataplane_mode mode; /* system dataplane mode */
	unsigned workers;             /* system dataplane workers (default 1) */
	unsigned ring_size;           /* system dataplane ring-size (default 2048, power of two) */
	unsigned frame_size;          /* system dataplane frame-size (2048 or 4096, default 4096) */
};

struct cfg_interface {
	char name[IFNAMSIZ];
	unsigned line; /* where it was declared, for later errors */
	unsigned mtu;  /* 0 = leave as is */
	int redundancy_group; /* -1 = none */
	struct cfg_prefix *addrs; /* family inet/inet6 addresses, unit 0 */
	unsigned n_addrs;
	struct cfg_prefix *vips;  /* virtual-address (cluster), /len taken from the subnet */
	unsigned n_vips;
};

struct cfg_route {
	struct cfg_prefix dst;
	uint8_t nexthop[16]; /* same family as dst */
	bool discard;        /* `discard` instead of next-hop */
	unsigned line;
};

struct moat_config {
	char source_name[256]; /* file the config came from */
	struct cfg_system system;
	struct cfg_interface *ifaces;
	unsigned n_ifaces;
	struct cfg_route *routes;
	unsigned n_routes;
	/* security, applications and chassis cluster: declared by the config module below. */
	struct cfg_security *security;
	struct cfg_cluster *cluster; /* NULL when no chassis cluster stanza */
	struct config_tree *tree;    /* the parsed tree, for `show configuration` */
};

/*
 * Parses and validates. On success returns 0 and *out; on failure a negative errno
 * (-EINVAL for a bad config, -ENOENT/-EACCES for the file) with *err filled.
 */
int config_load_file(const char *path, struct moat_config **out, struct config_error *err);
int config_load_string(const char *text, const char *name, struct moat_config **out,
		       struct config_error *err);
void config_free(struct moat_config *cfg);

/* "FILE:LINE:COL: message" (or "FILE: message" when line is 0). */
void config_error_format(const struct config_error *err, char *buf, size_t len);

/* Prints the configuration as the operator wrote it (normalised braces) or as `set` lines. */
int config_print_tree(const struct moat_config *cfg, FILE *out);
int config_print_set(const struct moat_config *cfg, FILE *out);

/* Looks an interface up by name; NULL if the config does not name it. */
const struct cfg_interface *config_find_interface(const struct moat_config *cfg, const char *name);

#endif
