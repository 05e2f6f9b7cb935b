# SPDX-License-Identifier: GPL-2.0
# make demo: netdev.sh with a doorbell round-trip timing first.
DEMO=1
. /ivntb/tests/netdev.sh
