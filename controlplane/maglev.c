/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Weighted Maglev table builder.
 *
 * Each backend walks its own permutation of the slots, (offset + j * skip) mod
 * M, taking the first free slot on each of its turns. Offset and skip come from
 * hashing the backend's stable key with two fixed seeds, so a backend's
 * preferences never change when others come or go — that is what keeps the
 * disruption of a membership change close to the minimum.
 *
 * Weights decide how often a backend has a turn. Think of the fill as rounds:
 * a backend of the largest weight w_max has a turn every round, one of weight w
 * has its k-th turn in round ceil(k * w_max / w). With equal weights this is
 * exactly the paper's round-robin; with unequal ones each backend ends within
 * a slot or so of its weighted share.
 *
 * The turns are kept in a calendar: one FIFO list of backends per round, in a
 * circular array longer than the largest gap between two turns. A round's list
 * is taken whole and each backend in it, after its turn, is appended to the
 * list of its next round. Round 1 starts in key order, so the order within a
 * round is a function of the input set alone. Every round the heaviest backend
 * fills a slot, so there are at most M rounds and the fill costs O(M + N) list
 * operations plus the probing of the permutations.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "dataplane/flow_hash.h"

/* Seeds of the two permutation hashes; part of the table format. */
#define MAGLEV_OFFSET_SEED 0x6d61676cu /* "magl" */
#define MAGLEV_SKIP_SEED   0x736b6970u /* "skip" */

#define MAGLEV_LIST_END 0xffffffffu

struct maglev_walker {
	__u32 input_index; /* index into the caller's backends[] */
	__u32 weight;
	__u32 position; /* the slot the permutation points at now */
	__u32 skip;
	/* The round of the next turn is ceil(k * w_max / weight) for the k-th
	 * turn; kept as quotient and remainder of k * w_max by weight so that
	 * advancing k needs no division. */
	__u32 turn_quotient, turn_remainder;
	__u32 step_quotient, step_remainder; /* w_max / weight and w_max % weight */
	__u32 next_in_round; /* calendar list link (a rank) */
};

struct maglev_calendar {
	__u32 *head, *tail; /* per round slot, MAGLEV_LIST_END when empty */
	__u32 mask;         /* slot count - 1; the count is a power of two */
	__u32 last_round;   /* no round after this one is ever reached */
};

bool maglev_table_size_valid(__u32 size)
{
	if (size < MAGLEV_TABLE_SIZE_MIN || size > MAGLEV_TABLE_SIZE_MAX)
		return false;
	if (size % 2 == 0)
		return false;
	for (__u32 d = 3; d <= size / d; d += 2) {
		if (size % d == 0)
			return false;
	}
	return true;
}

int maglev_key_order(__u8 family_a, const __be32 *addr_a, __be16 port_a, __u8 family_b,
		     const __be32 *addr_b, __be16 port_b)
{
	if (family_a != family_b)
		return family_a < family_b ? -1 : 1;
	int c = memcmp(addr_a, addr_b, 4 * sizeof(__be32));
	if (c != 0)
		return c;
	return memcmp(&port_a, &port_b, sizeof(port_a));
}

static int maglev_key_cmp(const struct maglev_backend *a, const struct maglev_backend *b)
{
	return maglev_key_order(a->family, a->addr, a->port, b->family, b->addr, b->port);
}

static int maglev_walker_cmp(const void *a, const void *b, void *backends_arg)
{
	const struct maglev_backend *backends = backends_arg;
	const struct maglev_walker *wa = a, *wb = b;

	return maglev_key_cmp(&backends[wa->input_index], &backends[wb->input_index]);
}

/* The words a backend's permutation is hashed from: address, port, family. */
static void maglev_key_words(const struct maglev_backend *b, __u32 words[6])
{
	for (int i = 0; i < 4; i++)
		words[i] = flow_hash_be32_to_host(b->addr[i]);
	words[4] = flow_hash_be16_to_host(b->port);
	words[5] = b->family;
}

/* Advances a walker to its next turn and returns that turn's round. */
static __u32 maglev_walker_next_round(struct maglev_walker *w)
{
	w->turn_quotient += w->step_quotient;
	w->turn_remainder += w->step_remainder;
	if (w->turn_remainder >= w->weight) {
		w->turn_remainder -= w->weight;
		w->turn_quotient++;
	}
	return w->turn_quotient + (w->turn_remainder != 0);
}

static void maglev_calendar_append(struct maglev_calendar *cal, struct maglev_walker *walkers,
				   __u32 rank, __u32 round)
{
	if (round > cal->last_round)
		return;
	__u32 slot = round & cal->mask;
	walkers[rank].next_in_round = MAGLEV_LIST_END;
	if (cal->head[slot] == MAGLEV_LIST_END)
		cal->head[slot] = rank;
	else
		walkers[cal->tail[slot]].next_in_round = rank;
	cal->tail[slot] = rank;
}

/* Takes the walker's next free slot. The permutation visits every slot (skip
 * < M, M prime), so one is found while the ring is not full. */
static void maglev_walker_take_slot(struct maglev_walker *w, __u32 rank, __u64 *taken,
				    __u32 *ring, __u32 ring_size)
{
	while (taken[w->position / 64] & (1ull << (w->position % 64))) {
		w->position += w->skip;
		if (w->position >= ring_size)
			w->position -= ring_size;
	}
	taken[w->position / 64] |= 1ull << (w->position % 64);
	ring[w->position] = rank;
}

int maglev_build(const struct maglev_backend *backends, __u32 backend_count, __u32 *ring,
		 __u32 ring_size, __u32 *canonical_order)
{
	struct maglev_calendar cal = { NULL, NULL, 0, ring_size };
	struct maglev_walker *walkers = NULL;
	__u64 *taken = NULL;
	__u32 weight_max = 0, weight_min = ~0u, slots;
	int err = 0;

	if (!maglev_table_size_valid(ring_size) || backend_count > MAGLEV_BACKENDS_MAX)
		return -EINVAL;
	for (__u32 i = 0; i < ring_size; i++)
		ring[i] = FLOW_NO_BACKEND;
	if (backend_count == 0)
		return 0;

	walkers = calloc(backend_count, sizeof(*walkers));
	taken = calloc((ring_size + 63) / 64, sizeof(*taken));
	if (!walkers || !taken) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 i = 0; i < backend_count; i++) {
		if (backends[i].family != FLOW_FAMILY_IPV4 && backends[i].family != FLOW_FAMILY_IPV6) {
			err = -EINVAL;
			goto out;
		}
		walkers[i].input_index = i;
	}
	qsort_r(walkers, backend_count, sizeof(*walkers), maglev_walker_cmp, (void *)backends);

	for (__u32 rank = 0; rank < backend_count; rank++) {
		struct maglev_walker *w = &walkers[rank];
		const struct maglev_backend *b = &backends[w->input_index];
		__u32 words[6];

		if (rank > 0 && maglev_key_cmp(&backends[walkers[rank - 1].input_index], b) == 0) {
			err = -EEXIST;
			goto out;
		}
		if (canonical_order)
			canonical_order[rank] = w->input_index;
		w->weight = b->weight;
		if (b->weight == 0)
			continue;
		maglev_key_words(b, words);
		w->position = flow_hash_words(words, 6, MAGLEV_OFFSET_SEED) % ring_size;
		w->skip = flow_hash_words(words, 6, MAGLEV_SKIP_SEED) % (ring_size - 1) + 1;
		weight_max = b->weight > weight_max ? b->weight : weight_max;
		weight_min = b->weight < weight_min ? b->weight : weight_min;
	}
	if (weight_max == 0)
		goto out;

	/* Two turns of one backend are at most ceil(w_max / w_min) rounds apart,
	 * and no round beyond M is reached: the calendar needs no more slots. */
	__u64 gap = ((__u64)weight_max + weight_min - 1) / weight_min;
	for (slots = 2; slots <= gap && slots <= ring_size; slots *= 2)
		;
	cal.mask = slots - 1;
	cal.head = malloc(slots * sizeof(*cal.head));
	cal.tail = malloc(slots * sizeof(*cal.tail));
	if (!cal.head || !cal.tail) {
		err = -ENOMEM;
		goto out;
	}
	memset(cal.head, 0xff, slots * sizeof(*cal.head));
	for (__u32 rank = 0; rank < backend_count; rank++) {
		struct maglev_walker *w = &walkers[rank];
		if (w->weight == 0)
			continue;
		w->step_quotient = weight_max / w->weight;
		w->step_remainder = weight_max % w->weight;
		maglev_calendar_append(&cal, walkers, rank, maglev_walker_next_round(w));
	}

	__u32 filled = 0;
	for (__u32 round = 1; filled < ring_size; round++) {
		__u32 slot = round & cal.mask;
		__u32 rank = cal.head[slot];

		cal.head[slot] = MAGLEV_LIST_END;
		while (rank != MAGLEV_LIST_END && filled < ring_size) {
			struct maglev_walker *w = &walkers[rank];
			__u32 next = w->next_in_round;

			maglev_walker_take_slot(w, rank, taken, ring, ring_size);
			filled++;
			maglev_calendar_append(&cal, walkers, rank, maglev_walker_next_round(w));
			rank = next;
		}
	}

out:
	free(cal.tail);
	free(cal.head);
	free(taken);
	free(walkers);
	return err;
}
