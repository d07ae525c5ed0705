/* SPDX-License-Identifier: BSD-3-Clause */
/* lbgen's receive accounting (tools/lbgen/track.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lbgen/track.h"

#define TRACK_LOAD(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define TRACK_ADD(p, n) __atomic_store_n((p), *(p) + (n), __ATOMIC_RELAXED)
#define TRACK_WORDS	(TRACK_WINDOW_BITS / 64)

int track_init(struct track *t, const struct flowset *fs)
{
	memset(t, 0, sizeof(*t));
	t->flows = fs;
	t->per_flow = calloc(fs->flow_count ? fs->flow_count : 1, sizeof(*t->per_flow));
	t->window = calloc(TRACK_WORDS, sizeof(*t->window));
	if (!t->per_flow || !t->window) {
		track_fini(t);
		return -ENOMEM;
	}
	latency_init(&t->latency);
	latency_init(&t->trial_latency);
	return 0;
}

void track_fini(struct track *t)
{
	free(t->per_flow);
	free(t->window);
	t->per_flow = NULL;
	t->window = NULL;
}

static __u32 track_slot_of(__u8 family, const __be32 *addr)
{
	__u32 words[5] = {addr[0], addr[1], addr[2], addr[3], family};

	return flow_hash_words(words, 5, FLOW_HASH_SEED) % TRACK_SLOTS;
}

/* The backend's index, or -1; with add, learns it when there is room. */
static int track_backend_find(struct track *t, __u8 family, const __be32 *addr, int add)
{
	__u32 slot = track_slot_of(family, addr);

	for (;; slot = (slot + 1) % TRACK_SLOTS) {
		__u16 s = t->slots[slot];
		if (!s)
			break;
		const struct track_backend *b = &t->backends[s - 1];
		if (b->family == family && memcmp(b->addr, addr, sizeof(b->addr)) == 0)
			return s - 1;
	}
	/* The table is never more than half full, so an empty slot ends
	 * every probe sequence. */
	if (!add || t->backend_count == TRACK_BACKENDS_MAX)
		return -1;
	struct track_backend *b = &t->backends[t->backend_count];
	b->family = family;
	memcpy(b->addr, addr, sizeof(b->addr));
	b->packets = 0;
	t->slots[slot] = (__u16)++t->backend_count;
	return (int)t->backend_count - 1;
}

int track_add_backend(struct track *t, __u8 family, const __be32 *addr)
{
	if (track_backend_find(t, family, addr, 0) >= 0)
		return -EEXIST;
	if (track_backend_find(t, family, addr, 1) < 0)
		return -ENOSPC;
	t->backends_fixed = 1;
	return 0;
}

/* Clears the window's bits for sequence numbers [from, to). */
static void track_window_clear(__u64 *window, __u64 from, __u64 to)
{
	if (to - from >= TRACK_WINDOW_BITS) {
		memset(window, 0, TRACK_WORDS * sizeof(*window));
		return;
	}
	while (from < to) {
		__u64 bit = from % TRACK_WINDOW_BITS;
		__u64 n = 64 - bit % 64;
		if (n > to - from)
			n = to - from;
		__u64 mask = n == 64 ? ~0ull : ((1ull << n) - 1) << (bit % 64);
		window[bit / 64] &= ~mask;
		from += n;
	}
}

/* Marks seq as seen; returns 1 when it had been seen already. */
static int track_window_seen(struct track *t, __u64 seq)
{
	if (seq >= t->seq_end) {
		track_window_clear(t->window, t->seq_end, seq + 1);
		t->seq_end = seq + 1;
	} else if (t->seq_end - seq > TRACK_WINDOW_BITS) {
		return 0; /* older than the window: cannot tell */
	}
	__u64 bit = seq % TRACK_WINDOW_BITS, mask = 1ull << (bit % 64);
	if (t->window[bit / 64] & mask)
		return 1;
	t->window[bit / 64] |= mask;
	return 0;
}

/* The per-flow checks of a packet whose probe matches its headers. */
static void track_flow(struct track *t, struct track_flow *f, int backend, __u64 seq)
{
	/* Sequence numbers of one flow are far less than 2^31 apart. */
	__s32 ahead = (__s32)((__u32)seq - f->last_seq);

	if (!(f->flags & TRACK_FLOW_SEEN)) {
		f->flags |= TRACK_FLOW_SEEN;
		f->last_seq = (__u32)seq;
		TRACK_ADD(&t->c.flows_seen, 1);
	} else if (ahead < 0) {
		TRACK_ADD(&t->c.reordered, 1);
	} else {
		f->last_seq = (__u32)seq;
	}
	if (backend < 0)
		return;
	if (!f->backend) {
		f->backend = (__u16)(backend + 1);
	} else if (f->backend != backend + 1 && !(f->flags & TRACK_FLOW_MOVED)) {
		f->flags |= TRACK_FLOW_MOVED;
		TRACK_ADD(&t->c.flows_moved, 1);
	}
}

void track_packet(struct track *t, const struct rxparse_result *r, __u32 frame_len,
		  __u64 latency_ns)
{
	if (r->seq < TRACK_LOAD(&t->trial_first_seq)) {
		TRACK_ADD(&t->c.stale, 1);
		return;
	}
	if (track_window_seen(t, r->seq)) {
		TRACK_ADD(&t->c.duplicates, 1);
		return;
	}
	TRACK_ADD(&t->c.rx_packets, 1);
	TRACK_ADD(&t->c.rx_bytes, frame_len);
	TRACK_ADD(&t->c.encap[r->encap], 1);
	if (!r->checksums_ok)
		TRACK_ADD(&t->c.bad_checksum, 1);
	latency_add(&t->latency, latency_ns);
	latency_add(&t->trial_latency, latency_ns);

	int backend = -1;
	if (!(t->backends_fixed && r->encap == RXPARSE_ENCAP_NONE))
		backend = track_backend_find(t, r->backend_family, r->backend, !t->backends_fixed);
	if (backend < 0)
		TRACK_ADD(&t->c.unknown_backend, 1);
	else
		TRACK_ADD(&t->backends[backend].packets, 1);

	struct flow_tuple expected;
	if (r->flow >= t->flows->flow_count) {
		TRACK_ADD(&t->c.flow_mismatch, 1);
		return;
	}
	flowset_tuple(t->flows, r->flow, &expected);
	if (memcmp(&expected, &r->tuple, sizeof(expected)) != 0) {
		TRACK_ADD(&t->c.flow_mismatch, 1);
		return;
	}
	track_flow(t, &t->per_flow[r->flow], backend, r->seq);
}

void track_not_ours(struct track *t)
{
	TRACK_ADD(&t->c.not_ours, 1);
}

void track_trial_begin(struct track *t, __u64 first_seq)
{
	__atomic_store_n(&t->trial_first_seq, first_seq, __ATOMIC_RELAXED);
	track_read(t, &t->trial_base);
	latency_init(&t->trial_latency);
}

void track_read(const struct track *t, struct track_counters *out)
{
	const __u64 *src = (const __u64 *)&t->c;
	__u64 *dst = (__u64 *)out;

	/* The struct is nothing but __u64 counters. */
	for (size_t i = 0; i < sizeof(*out) / sizeof(__u64); i++)
		dst[i] = TRACK_LOAD(&src[i]);
}

void track_read_trial(const struct track *t, struct track_counters *out)
{
	const __u64 *base = (const __u64 *)&t->trial_base;
	__u64 *dst = (__u64 *)out;

	track_read(t, out);
	for (size_t i = 0; i < sizeof(*out) / sizeof(__u64); i++)
		dst[i] -= TRACK_LOAD(&base[i]);
}
