#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# test_flood.sh's floods against lbd's XDP balancer: its new_flows map keeps
# a random-source SYN flood away from the established flows, as lb-dpdk's
# table of new flows does.
E2E_MODE=xdp exec "$(dirname "$0")/test_flood.sh"
