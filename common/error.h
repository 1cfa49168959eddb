/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mapping between negative errno (what daemon functions return) and the tlsd error enum
 * (what crosses the wire and the public APIs). The one table lives in error.c.
 */
#pragma once

#include "tlsd/error.h"

/* -EKEYREJECTED -> TLSD_ERR_VERIFY, 0 -> TLSD_OK, anything unknown -> TLSD_ERR_INTERNAL. */
enum tlsd_error tlsd_error_from_errno(int negative_errno);
/* The errno a tlsd error most closely means (positive), for callers that want one. */
int tlsd_error_to_errno(enum tlsd_error e);
