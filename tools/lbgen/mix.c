/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP flag and frame size mixes (tools/lbgen/mix.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/frame.h"
#include "tools/lbgen/mix.h"

static const char *const mix_tcp_names[MIX_TCP_KINDS] = {"syn", "ack", "fin", "rst"};
static const __u8 mix_tcp_kind_flags[MIX_TCP_KINDS] = {
	[MIX_TCP_SYN] = PKT_TCP_SYN,
	[MIX_TCP_ACK] = PKT_TCP_ACK | 0x08, /* PSH */
	[MIX_TCP_FIN] = PKT_TCP_FIN | PKT_TCP_ACK,
	[MIX_TCP_RST] = PKT_TCP_RST | PKT_TCP_ACK,
};

/* Parses a weight after ':' (or none: 1); returns 0 or -EINVAL. */
static int mix_parse_weight(const char *text, size_t n, __u32 *weight)
{
	char buf[16];
	char *end;

	if (n == 0) {
		*weight = 1;
		return 0;
	}
	if (n >= sizeof(buf) || text[0] == '-' || text[0] == '+')
		return -EINVAL;
	memcpy(buf, text, n);
	buf[n] = '\0';
	unsigned long v = strtoul(buf, &end, 10);
	if (*end || end == buf || v == 0 || v > MIX_PERIOD_MAX)
		return -EINVAL;
	*weight = (__u32)v;
	return 0;
}

/* Splits "NAME[:WEIGHT]" of n bytes: the name's length and the weight. */
static int mix_split_item(const char *item, size_t n, size_t *name_len, __u32 *weight)
{
	const char *colon = memchr(item, ':', n);

	*name_len = colon ? (size_t)(colon - item) : n;
	return mix_parse_weight(colon ? colon + 1 : item + n, colon ? n - *name_len - 1 : 0,
				weight);
}

int mix_parse_tcp(struct mix_tcp *m, const char *text, char *err, size_t err_size)
{
	__u64 total = 0, cumulative = 0;
	const char *item = text;

	memset(m, 0, sizeof(*m));
	while (*item) {
		size_t n = strcspn(item, ","), name_len;
		__u32 weight;
		int kind;

		if (mix_split_item(item, n, &name_len, &weight))
			goto bad;
		for (kind = 0; kind < MIX_TCP_KINDS; kind++)
			if (strlen(mix_tcp_names[kind]) == name_len &&
			    strncmp(item, mix_tcp_names[kind], name_len) == 0)
				break;
		if (kind == MIX_TCP_KINDS || m->weights[kind])
			goto bad;
		m->weights[kind] = weight;
		total += weight;
		item += n;
		if (*item == ',' && *++item == '\0')
			goto bad;
	}
	if (!total)
		goto bad;
	for (int kind = 0; kind < MIX_TCP_KINDS; kind++) {
		cumulative += m->weights[kind];
		m->bound[kind] = (cumulative << 32) / total;
	}
	return 0;
bad:
	snprintf(err, err_size,
		 "%s: not a TCP mix (KIND[:WEIGHT],... with KIND syn, ack, fin or rst, each once)",
		 text);
	return -EINVAL;
}

void mix_tcp_connections(struct mix_tcp *m, __u32 data_packets)
{
	memset(m, 0, sizeof(*m));
	m->connections = 1;
	m->data_packets = data_packets;
}

__u8 mix_tcp_flags(const struct mix_tcp *m, __u64 seq, __u64 round)
{
	if (m->connections) {
		__u64 phase = round % ((__u64)m->data_packets + 2);
		if (phase == 0)
			return mix_tcp_kind_flags[MIX_TCP_SYN];
		return mix_tcp_kind_flags[phase <= m->data_packets ? MIX_TCP_ACK : MIX_TCP_FIN];
	}
	/* Weyl sequence seq * 2^64 / golden ratio: equidistributed over
	 * [0, 2^32) for every run of packets, and for every flow's packets
	 * (an arithmetic progression of seq) too, so each flow sees the mix. */
	__u64 point = (seq * 0x9e3779b97f4a7c15ull) >> 32;
	for (int kind = 0; kind < MIX_TCP_KINDS - 1; kind++)
		if (point < m->bound[kind])
			return mix_tcp_kind_flags[kind];
	return mix_tcp_kind_flags[MIX_TCP_KINDS - 1];
}

int mix_parse_size(struct mix_size *m, const char *text, char *err, size_t err_size)
{
	const char *item = strcmp(text, "imix") == 0 ? MIX_IMIX : text;
	__s64 current[MIX_SIZES_MAX] = {0};

	memset(m, 0, sizeof(*m));
	while (*item) {
		size_t n = strcspn(item, ","), name_len;
		__u32 weight, size;
		char buf[16];
		char *end;

		if (m->count == MIX_SIZES_MAX || mix_split_item(item, n, &name_len, &weight) ||
		    name_len == 0 || name_len >= sizeof(buf))
			goto bad;
		memcpy(buf, item, name_len);
		buf[name_len] = '\0';
		size = (__u32)strtoul(buf, &end, 10);
		if (*end || buf[0] == '-' || buf[0] == '+' || size < FRAME_SIZE_MIN ||
		    size > FRAME_SIZE_MAX)
			goto bad;
		m->sizes[m->count] = size;
		m->weights[m->count++] = weight;
		m->period += weight;
		item += n;
		if (*item == ',' && *++item == '\0')
			goto bad;
	}
	if (!m->count || m->period > MIX_PERIOD_MAX)
		goto bad;
	/* Smooth weighted round robin: each step every size gains its weight,
	 * the one furthest ahead is chosen and pays the total back. Sizes are
	 * interleaved as evenly as their weights allow. */
	for (__u32 step = 0; step < m->period; step++) {
		__u32 best = 0;
		for (__u32 i = 0; i < m->count; i++) {
			current[i] += m->weights[i];
			if (current[i] > current[best])
				best = i;
		}
		current[best] -= m->period;
		m->pattern[step] = (__u16)best;
	}
	return 0;
bad:
	snprintf(err, err_size,
		 "%s: not a frame size (%d-%d bytes with FCS), \"imix\", or SIZE:WEIGHT,... "
		 "(at most %d sizes, weights summing to at most %d)",
		 text, FRAME_SIZE_MIN, FRAME_SIZE_MAX, MIX_SIZES_MAX, MIX_PERIOD_MAX);
	return -EINVAL;
}

double mix_size_mean(const struct mix_size *m, __u32 min_size)
{
	double sum = 0;

	for (__u32 i = 0; i < m->count; i++)
		sum += (double)(m->sizes[i] < min_size ? min_size : m->sizes[i]) * m->weights[i];
	return sum / m->period;
}
