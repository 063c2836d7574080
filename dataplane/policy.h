/* SPDX-License-Identifier: MIT */
/*
 * policy.h — security policies compiled for the first packet of a flow.
 *
 * Compiled by the control thread from a Snapshot (zones, policies in config order, default
 * policy), immutable once published with the other tables. Per (from-zone, to-zone) pair,
 * each policy is expanded into one "sub-rule" per application (an application's ports and
 * protocol belong together), numbered in evaluation order. Four dimensions — source
 * address, destination address (one interval table per family), source port, destination
 * port (per protocol named by the pair's applications, ICMP type/code in place of the
 * destination port) — are cut into elementary intervals, and each interval holds the bitset
 * of sub-rules that match anywhere in it (identical bitsets are stored once). A lookup is a
 * binary search per dimension, then an AND of four bitsets word by word: the first set bit
 * is the first matching policy. Cost: 4 * log2(intervals) + (sub-rules / 64) words, so
 * hundreds of policies in one pair cost a handful of words, not hundreds of comparisons.
 * Nothing matches (or no policy for the pair): the default policy (id 0).
 *
 * Counter slots: hit counters are kept per worker in arrays indexed by a slot that names a
 * policy by (from-zone name, to-zone name, policy name), stable across commits that
 * renumber policies. struct pol_names, owned by the control thread, hands the slots out.
 */
#ifndef MOAT_DP_POLICY_H
#define MOAT_DP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat.pb-c.h"

#define POL_MAX_ZONE 1023
#define POL_MAX_SLOTS 16384 /* policy counter slots, slot 0 = the default policy */
#define POL_DEFAULT_SLOT 0
#define POL_APP_ANY_SLOT 0

enum pol_action { POL_PERMIT = 0, POL_DENY = 1, POL_REJECT = 2 };

/* A string interner handing out small stable slots (0..max-1). */
struct pol_names {
    char **key;
    char **display;
    uint32_t n, max;
    uint32_t *hash; /* open addressing: slot + 1, 0 empty */
    uint32_t hsize;
    bool overflowed; /* ran out of slots: later names share the last one */
};

/* Slot 0 is interned as (first_key, first_display). -ENOMEM. */
int pol_names_init(struct pol_names *nm, uint32_t max, const char *first_key,
                   const char *first_display);
void pol_names_free(struct pol_names *nm);
/* The slot of key (interned with display on first sight), or -ENOSPC / -ENOMEM. */
int pol_names_intern(struct pol_names *nm, const char *key, const char *display);
/* The display string of a slot ("" if unknown). */
const char *pol_names_display(const struct pol_names *nm, uint32_t slot);

struct pol_rule {
    uint32_t id; /* Policy.id */
    uint16_t slot;
    uint8_t action; /* enum pol_action */
    uint16_t from, to;
    char *name;
};

/* What a packet is matched on. Ports in host order; ICMP: sport 0, dport type << 8 | code. */
struct pol_key {
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint16_t sport, dport;
    const uint8_t *src, *dst; /* 4 or 16 bytes */
};

struct pol_result {
    uint8_t action;
    uint16_t slot;
    uint16_t app_slot;
    uint32_t app_timeout; /* s, 0: the protocol's */
    uint32_t policy_id;   /* 0: default policy */
    int32_t rule;         /* index in the set, -1: default policy */
};

struct pol_set;

/*
 * Compiles s's policies. pnames / anames intern the policy identities and application
 * names into counter slots (NULL: slot = rule index + 1, app slot 0); once the slots run out,
 * new identities share the last one (counters only). -EINVAL with a sentence in err,
 * -ENOMEM.
 */
int pol_compile(const Moat__Snapshot *s, struct pol_names *pnames, struct pol_names *anames,
                struct pol_set **out, char *err, size_t errlen);
void pol_free(struct pol_set *p);

void pol_lookup(const struct pol_set *p, uint16_t from, uint16_t to, const struct pol_key *k,
                struct pol_result *r);

uint32_t pol_rule_count(const struct pol_set *p);
const struct pol_rule *pol_rule_at(const struct pol_set *p, uint32_t i);
/* The default policy's action (POL_DENY or POL_PERMIT). */
uint8_t pol_default_action(const struct pol_set *p);
/* Memory of the compiled form, bytes. */
size_t pol_bytes(const struct pol_set *p);

#endif
