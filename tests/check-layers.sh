#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's include-layer rules (scripts/check-layers, README "Source layout") as a test, so
# that `make check` fails on an include that breaks them.
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
exec "$top/scripts/check-layers" "$top"
