# SPDX-License-Identifier: GPL-2.0
# ivntb-used-by: make demo (scripts/demo.sh); not in make test
#
# make demo: netdev.sh with a doorbell round-trip timing first.
DEMO=1
. /ivntb/tests/netdev.sh
