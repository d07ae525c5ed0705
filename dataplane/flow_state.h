/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's flow tables across a restart: what a stopping lb-dpdk writes to
 * its flow state file and the next one puts back into its workers' tables,
 * so that established flows keep their backend although the Maglev ring
 * has changed since they started (a backend drained, weights changed, a
 * backend added).
 *
 * A flow-table slot holds no hash, only its bucket (hash & mask), a 64-bit
 * fingerprint, a member id and an expiry on its worker's clock. So:
 *  - a flow is saved as (worker, bucket, fingerprint, life left) and can be
 *    put back only into a table of the same geometry (workers, buckets),
 *    since RSS steers a flow to its worker and the bucket is the hash's low
 *    bits; another geometry is refused as a whole;
 *  - member ids are this process's (gen.h), so the file names each member by
 *    what stays: its VIP key and the backend's address, port and family,
 *    resolved to the new process's ids once lbd has given it its first
 *    generation; flows whose VIP or backend that generation lacks are
 *    dropped, counted by reason;
 *  - expiries are kept as seconds left, less the time the file spent on disk
 *    (the new process's clock starts again at 1).
 *
 * The file: a header (magic, version, geometry, counts, the clocks when
 * written, probes of the flow hash and fingerprint, CRC-32 of the header and
 * of the body), then the member table, then the entries grouped by worker.
 * Integers in host byte order (the file never leaves the machine),
 * addresses and ports in network order as on the control channel. It is
 * written under a temporary name and renamed into place.
 *
 * Nothing here needs DPDK: lb-dpdk calls it on its main lcore, the unit
 * tests call it directly.
 */
#ifndef FULCRUM_FLOW_STATE_H
#define FULCRUM_FLOW_STATE_H

#include <stddef.h>
#include <linux/types.h>

#include "dataplane/chan.h"
#include "dataplane/flow_table.h"
#include "dataplane/gen.h"

#define FLOW_STATE_MAGIC   "FULCRUMF"
#define FLOW_STATE_VERSION 1u
#define FLOW_STATE_BOOT_ID 40 /* /proc/sys/kernel/random/boot_id: 36 characters */

/* Resolution of a saved member that the first generation lacks. */
#define FLOW_STATE_VIP_GONE     0xffffffffu
#define FLOW_STATE_BACKEND_GONE 0xfffffffeu

struct flow_state_header {
	char magic[8];          /* FLOW_STATE_MAGIC, not terminated */
	__u32 version;          /* FLOW_STATE_VERSION */
	__u32 header_size;      /* sizeof(struct flow_state_header) */
	__u32 workers;          /* flow tables saved, one per worker */
	__u32 buckets;          /* per table */
	__u32 ways;             /* FLOW_TABLE_WAYS */
	__u32 member_count;     /* records in the member table */
	__u64 entry_count;      /* flows saved */
	__u64 generation;       /* in service when saved (for the log) */
	__u64 saved_realtime_ns; /* CLOCK_REALTIME when written */
	__u64 saved_boottime_ns; /* CLOCK_BOOTTIME when written */
	char boot_id[FLOW_STATE_BOOT_ID]; /* of the boot that wrote it; "" if unknown */
	__u32 longest_timeout_s; /* no saved flow has more life left than this */
	__u32 hash_probe;        /* flow_hash() of a fixed tuple */
	__u64 fingerprint_probe; /* flow_table_fingerprint() of it */
	__u32 body_crc;          /* zlib crc32 of members and entries */
	__u32 header_crc;        /* crc32 of the header up to this field */
};

/* A (VIP, backend) pair, by the keys that outlive member ids. */
struct flow_state_member {
	struct chan_vip_key vip;
	__be32 addr[4];
	__be16 port;
	__u8 family;
	__u8 pad[9]; /* zero; 48 bytes keep the entries after them 8-byte aligned */
};

struct flow_state_entry {
	__u64 fingerprint;
	__u32 bucket;      /* < header.buckets */
	__u32 member;      /* index into the member table */
	__u32 remaining_s; /* life left when saved: 1..longest_timeout_s */
	__u16 worker;      /* < header.workers; entries sorted by worker */
	__u16 pad;         /* zero */
};

/* Why a file was or was not loaded. */
enum flow_state_status {
	FLOW_STATE_LOADED = 0,
	FLOW_STATE_MISSING,       /* no file: nothing was saved */
	FLOW_STATE_UNREADABLE,    /* open/read failed, or not a regular file */
	FLOW_STATE_NOT_OURS,      /* no magic: not a flow state file */
	FLOW_STATE_OTHER_VERSION, /* written by an lb-dpdk with another format */
	FLOW_STATE_TRUNCATED,     /* shorter than its header says */
	FLOW_STATE_CORRUPT,       /* checksum, sizes or fields wrong */
	FLOW_STATE_OTHER_HASH,    /* written by a build whose flow hash differs */
	FLOW_STATE_GEOMETRY,      /* other worker count or table size */
	FLOW_STATE_STALE,         /* older than the longest idle timeout */
	FLOW_STATE_CLOCK,         /* written in the future: the clock moved back */
	FLOW_STATE_STATUS_COUNT
};

/* "loaded", "missing", "stale", ... */
const char *flow_state_status_name(enum flow_state_status status);

/* When: both clocks and the boot they belong to. */
struct flow_state_clock {
	__u64 realtime_ns;
	__u64 boottime_ns;
	char boot_id[FLOW_STATE_BOOT_ID];
};

/* Reads the clocks and the boot id (boot_id "" when unreadable). */
void flow_state_clock_now(struct flow_state_clock *c);

/*
 * Seconds from `then` to `now`: CLOCK_BOOTTIME when both are of the same
 * boot (immune to wall-clock steps), else CLOCK_REALTIME. -1 when `then`
 * is later than `now`.
 */
long long flow_state_age_s(const struct flow_state_clock *then, const struct flow_state_clock *now);

/* Seconds from when h's file was written to now, as flow_state_age_s(). */
long long flow_state_file_age_s(const struct flow_state_header *h,
				const struct flow_state_clock *now);

/* What the writer is given: one table per worker and its clock. */
struct flow_state_tables {
	const struct flow_table *const *tables; /* workers of them, equal geometry */
	const __u32 *now_s;                     /* each table's clock */
	__u32 workers;
};

/* Fills *out with the keys of member `id`; 0, or -ENOENT when unknown. */
typedef int (*flow_state_describe_fn)(void *ctx, __u32 id, struct flow_state_member *out);

struct flow_state_save_stats {
	__u64 saved;    /* flows written */
	__u64 unnamed;  /* live flows whose member had no key: left out */
	__u32 members;  /* member records written */
};

/*
 * Writes the live entries of t to path (through path.tmp, renamed into
 * place). generation and longest_timeout_s go into the header; describe
 * names members. Returns 0, or -errno with a message in err (the
 * temporary file removed). Nothing may write the tables meanwhile.
 */
int flow_state_save(const char *path, const struct flow_state_tables *t, __u64 generation,
		    __u32 longest_timeout_s, const struct flow_state_clock *now,
		    flow_state_describe_fn describe, void *ctx, struct flow_state_save_stats *st,
		    char *err, size_t err_size);

/* The member-naming function lb-dpdk saves with: ctx is a
 * struct flow_state_gen_ctx (the generation in service, the registry). */
struct flow_state_gen_ctx {
	const struct gen *gen;
	const struct gen_registry *registry;
};
int flow_state_describe_gen(void *ctx, __u32 id, struct flow_state_member *out);

/* A loaded file. */
struct flow_state {
	struct flow_state_header head;
	const struct flow_state_member *members;
	const struct flow_state_entry *entries;
	__u64 *worker_start; /* head.workers + 1 indices into entries */
	void *data;          /* the file's bytes */
};

/* The geometry of this process's tables. */
struct flow_state_geometry {
	__u32 workers;
	__u32 buckets;
};

struct flow_state_load_info {
	enum flow_state_status status;
	__u64 entries;   /* flows in the file, when its header could be trusted */
	long long age_s; /* how old the file is, likewise; -1 if unknown */
};

/*
 * Reads and checks path against geo and the clock now. Returns the loaded
 * state, or NULL with info->status saying why (a message in err, naming
 * the file). Never trusts a field before the checksum covering it is right.
 */
struct flow_state *flow_state_load(const char *path, const struct flow_state_geometry *geo,
				   const struct flow_state_clock *now,
				   struct flow_state_load_info *info, char *err, size_t err_size);

void flow_state_destroy(struct flow_state *fs);

/*
 * The new member id of every saved member in g (a malloc'ed array of
 * head.member_count): the id when g has the member (READY or DRAIN),
 * FLOW_STATE_VIP_GONE when g lacks its VIP, FLOW_STATE_BACKEND_GONE when
 * the VIP has no such backend. NULL with errno ENOMEM.
 */
__u32 *flow_state_resolve(const struct flow_state *fs, const struct gen *g);

struct flow_state_restore_stats {
	__u64 restored;
	__u64 vip_gone;     /* dropped: VIP not in the first generation */
	__u64 backend_gone; /* dropped: backend not in it */
	__u64 expired;      /* dropped: idle for longer than its life left */
	__u64 collided;     /* another saved flow had its slot (never, for a file we wrote) */
};

/*
 * Puts worker's saved flows into ft (its table, of the file's geometry),
 * member ids from map (flow_state_resolve()), expiring at now_s + life
 * left - elapsed_s. Adds to *st. The table's owner must not touch it
 * meanwhile.
 */
void flow_state_restore_table(const struct flow_state *fs, const __u32 *map, __u32 worker,
			      struct flow_table *ft, __u32 now_s, __u64 elapsed_s,
			      struct flow_state_restore_stats *st);

#endif /* FULCRUM_FLOW_STATE_H */
