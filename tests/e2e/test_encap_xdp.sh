#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# test_encap.sh's scenarios on the XDP dataplane: lbd loads the XDP balancer
# onto the balancer's veth instead of publishing to lb-dpdk.
E2E_MODE=xdp exec "$(dirname "$0")/test_encap.sh"
