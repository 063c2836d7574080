/* SPDX-License-Identifier: MIT */
#include "pbmsg.h"

#include <stdint.h>
#include <stdlib.h>

/* Calls visit on every message directly inside m (repeated fields' members, the set member of
 * a oneof, singular message fields that are present) until visit returns true; returns whether
 * one did. */
static bool each_submessage(const ProtobufCMessage *m, bool (*visit)(ProtobufCMessage *sub))
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            const size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                if (v[j] && visit(v[j]))
                    return true;
            continue;
        }
        /* A member of a oneof is there only while the case names it (the members share one
         * pointer). */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
        if (sub && visit(sub))
            return true;
    }
    return false;
}

static bool has_unknown_visit(ProtobufCMessage *m)
{
    return pb_has_unknown(m);
}

bool pb_has_unknown(const ProtobufCMessage *m)
{
    return m->n_unknown_fields || each_submessage(m, has_unknown_visit);
}

static bool strip_visit(ProtobufCMessage *m)
{
    pb_strip_unknown(m);
    return false;
}

void pb_strip_unknown(ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        free(m->unknown_fields[i].data);
    free(m->unknown_fields);
    m->unknown_fields = NULL;
    m->n_unknown_fields = 0;
    each_submessage(m, strip_visit);
}
