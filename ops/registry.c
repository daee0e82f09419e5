/* registry.c: the op table generated from ops.def. */
#include "ops_internal.h"

#define TG_OP(name) extern const tg_op_def tg_op_##name;
#include "ops.def"
#undef TG_OP

/* The op enum, in ops.def order. */
enum {
#define TG_OP(name) TG_OPID_##name,
#include "ops.def"
#undef TG_OP
    TG_OPID_COUNT
};

/* No hand-kept count: the enum is the count. What a count used to catch, an
 * op defined but left out of ops.def, test/test_op_contract.py catches
 * (every tg_op_* object in the libraries must be a line of ops.def). */

const tg_op_def *const tg__op_table[] = {
#define TG_OP(name) &tg_op_##name,
#include "ops.def"
#undef TG_OP
};
const int tg__op_table_count = TG_OPID_COUNT;

int tg_op_count(void) { return TG_OPID_COUNT; }
const tg_op_def *tg_op_at(int i) { return (i >= 0 && i < TG_OPID_COUNT) ? tg__op_table[i] : NULL; }
const tg_op_def *tg_op_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < TG_OPID_COUNT; i++)
        if (strcmp(tg__op_table[i]->name, name) == 0) return tg__op_table[i];
    return NULL;
}
