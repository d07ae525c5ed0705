/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The probe: what lbgen writes at the start of the TCP or UDP payload of every
 * packet it sends, and what its receive side looks for in every frame that
 * comes back, however Fulcrum tunnelled it. The one definition both halves
 * use (frame.c writes it, rxparse.c reads it).
 *
 * Every field is big-endian on the wire. Probes sit at odd offsets behind
 * Ethernet and IP headers, so they are read and written with memcpy, never
 * through a cast pointer.
 */
#ifndef FULCRUM_LBGEN_PROBE_H
#define FULCRUM_LBGEN_PROBE_H

#include <linux/types.h>

/* "LBG" and the probe layout's version (1). A frame whose payload does not
 * start with it is not lbgen's. */
#define PROBE_MAGIC 0x4c424701u
#define PROBE_LEN   24

struct probe {
	__be32 magic;  /* PROBE_MAGIC */
	__be32 flow;   /* index of the flow in the run's flow set */
	__be64 seq;    /* the packet's number in the run, from 0; never reused,
			* so a packet of an earlier NDR trial is recognised */
	__be64 tx_tsc; /* TSC when it was built, on the sending host */
};

_Static_assert(sizeof(struct probe) == PROBE_LEN, "the probe is 24 bytes on the wire");

#endif /* FULCRUM_LBGEN_PROBE_H */
