/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Consistency across instances (README "Scale-out"): lbd instances given the
 * same backends and weights publish byte-identical tables — the backends
 * array and the ring lb-dpdk and the XDP maps receive — whatever order the
 * backends were listed in, whatever names they carry, and whatever history
 * of run-time additions, removals, weight changes and health failures led to
 * the same set. This is what lets a router move a flow from one instance to
 * another without moving it to another backend.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/model.h"
#include "controlplane/tables.h"

#define BACKENDS 8

struct spec {
	const char *name;
	const char *addr;
	__u32 weight;
};

/* The set every instance ends with: mixed weights, IPv4 and IPv6. */
static const struct spec final_set[BACKENDS] = {
	{ "b1", "10.1.0.1", 10 },  { "b2", "10.1.0.2", 20 }, { "b3", "10.1.0.3", 10 },
	{ "b4", "10.1.0.4", 5 },   { "b5", "fd00::5", 10 },  { "b6", "fd00::6", 30 },
	{ "b7", "10.1.0.7", 10 },  { "b8", "10.1.0.8", 1 },
};

static struct model *model_from(const struct spec *specs, __u32 n, __u32 table_size)
{
	char text[8192], *p = text;
	struct conf_errors errors;

	p += sprintf(p, "dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
			"  encap_source_v6 = \"fd00::2\";\n"
			"  dpdk = { ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
			"health_defaults = { type = \"tcp\"; rise = 2; fall = 2; };\n"
			"vips = ( { name = \"web\"; protocol = \"tcp\"; address = \"10.99.0.1\";\n"
			"  port = 80; table_size = %u; backends = (", table_size);
	for (__u32 i = 0; i < n; i++)
		p += sprintf(p, "%s { name = \"%s\"; address = \"%s\"; weight = %u; }", i ? "," : "",
			     specs[i].name, specs[i].addr, specs[i].weight);
	sprintf(p, " ); } );\n");
	struct conf *cfg = conf_load_string(text, "consistency.conf", &errors);
	for (__u32 i = 0; !cfg && i < errors.count; i++)
		fprintf(stderr, "%s\n", errors.messages[i]);
	assert_non_null(cfg);
	struct model *m = model_create(cfg);
	assert_non_null(m);
	conf_destroy(cfg);
	return m;
}

static __u64 now_ms = 1000;

/* rise successful checks for every backend: all up. */
static void all_up(struct model *m)
{
	struct model_vip *v = model_vip_find(m, "web");

	for (__u32 i = 0; i < v->backend_count; i++)
		for (int k = 0; k < 2; k++)
			model_backend_check_result(v->backends[i], true, "ok", 10, now_ms++);
}

static void add(struct model *m, const char *name, const char *addr, __u32 weight)
{
	struct conf_backend spec = { .port = 80, .weight = weight };
	char err[256];

	snprintf(spec.name, sizeof(spec.name), "%s", name);
	assert_int_equal(conf_parse_addr(addr, &spec.addr), 0);
	assert_int_equal(model_backend_add(m, model_vip_find(m, "web"), &spec, MODEL_BY_SCALER, err,
					   sizeof(err)),
			 0);
}

static void del(struct model *m, const char *name)
{
	char err[256];

	assert_int_equal(model_backend_del(model_vip_find(m, "web"), name, err, sizeof(err)), 0);
}

static struct vip_table *table_of(struct model *m)
{
	struct vip_table *t = tables_from_model(model_vip_find(m, "web"));

	assert_non_null(t);
	assert_int_equal(tables_build_ring(t), 0);
	return t;
}

/* Byte for byte: what lb-dpdk and the XDP maps are given. */
static void assert_same_table(const struct vip_table *a, const struct vip_table *b)
{
	assert_int_equal(a->table_size, b->table_size);
	assert_int_equal(a->backend_count, b->backend_count);
	assert_memory_equal(&a->key, &b->key, sizeof(a->key));
	assert_memory_equal(a->backends, b->backends, a->backend_count * sizeof(*a->backends));
	assert_memory_equal(a->ring, b->ring, a->table_size * sizeof(*a->ring));
}

static void instances_with_the_same_backends_publish_byte_identical_tables(void **state)
{
	static const __u32 sizes[] = { 65537, 251 };

	(void)state;
	for (__u32 s = 0; s < 2; s++) {
		__u32 size = sizes[s];
		struct spec reversed[BACKENDS], renamed[BACKENDS];
		char names[BACKENDS][16];

		/* A: the set as listed. */
		struct model *a = model_from(final_set, BACKENDS, size);
		all_up(a);
		/* B: listed backwards, under other names. */
		for (__u32 i = 0; i < BACKENDS; i++) {
			reversed[i] = final_set[BACKENDS - 1 - i];
			snprintf(names[i], sizeof(names[i]), "node-%u", 100 + i);
			renamed[i] = reversed[i];
			renamed[i].name = names[i];
		}
		struct model *b = model_from(renamed, BACKENDS, size);
		all_up(b);
		/* C: four in the file, the rest added at run time out of order,
		 * an extra one added and removed, b2 removed and added back. */
		struct model *c = model_from(final_set, 4, size);
		all_up(c);
		add(c, "b7", "10.1.0.7", 10);
		add(c, "x9", "10.1.0.9", 50);
		add(c, "b5", "fd00::5", 10);
		all_up(c);
		del(c, "b2");
		add(c, "b8", "10.1.0.8", 1);
		del(c, "x9");
		add(c, "b6", "fd00::6", 30);
		add(c, "b2", "10.1.0.2", 20);
		all_up(c);
		/* D: all eight plus one more; b3's weight changed and back,
		 * b4 failed its checks and recovered, the extra one removed. */
		struct model *d = model_from(final_set, BACKENDS, size);
		add(d, "x10", "10.1.0.10", 10);
		all_up(d);
		struct model_vip *dv = model_vip_find(d, "web");
		char err[256];
		assert_int_equal(model_backend_set_weight(model_backend_find(dv, "b3"), 40, err,
							  sizeof(err)),
				 0);
		struct vip_table *mid = table_of(d);
		assert_int_equal(model_backend_set_weight(model_backend_find(dv, "b3"), 10, err,
							  sizeof(err)),
				 0);
		struct model_backend *b4 = model_backend_find(dv, "b4");
		model_backend_check_result(b4, false, "refused", 10, now_ms++);
		model_backend_check_result(b4, false, "refused", 10, now_ms++);
		assert_false(model_backend_up(b4));
		struct vip_table *down = table_of(d);
		model_backend_check_result(b4, true, "ok", 10, now_ms++);
		model_backend_check_result(b4, true, "ok", 10, now_ms++);
		del(d, "x10");

		struct vip_table *ta = table_of(a), *tb = table_of(b), *tc = table_of(c),
				 *td = table_of(d);
		assert_int_equal(ta->backend_count, BACKENDS);
		assert_same_table(ta, tb);
		assert_same_table(ta, tc);
		assert_same_table(ta, td);
		/* And the comparison has teeth: the sets on the way differed. */
		assert_true(mid->backend_count != ta->backend_count ||
			    memcmp(mid->ring, ta->ring, size * sizeof(*ta->ring)) != 0);
		assert_true(memcmp(down->ring, ta->ring, size * sizeof(*ta->ring)) != 0);
		printf("  M=%u: 4 instances (listed in order; backwards under other names; built by "
		       "run-time add/remove; through weight and health changes) publish the same "
		       "%u backends and %u ring slots byte for byte\n",
		       size, ta->backend_count, size);
		struct vip_table *all[] = { ta, tb, tc, td, mid, down };
		for (__u32 i = 0; i < 6; i++)
			tables_destroy(all[i]);
		model_destroy(a);
		model_destroy(b);
		model_destroy(c);
		model_destroy(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(instances_with_the_same_backends_publish_byte_identical_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
