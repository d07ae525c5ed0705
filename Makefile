# SPDX-License-Identifier: BSD-3-Clause
#
# Fulcrum build. `make help` lists the targets; V=1 shows full commands.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

BUILD   ?= build
CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2)
endif

# Recursively expanded on purpose: pkg-config runs only when a rule needs the
# flags, which is after `make test` has installed the packages.
CONFIG_CFLAGS = $(shell $(PKG_CONFIG) --cflags libconfig)
CONFIG_LIBS   = $(shell $(PKG_CONFIG) --libs libconfig)
JSON_LIBS     = $(shell $(PKG_CONFIG) --libs jansson)
HTTP_LIBS     = $(shell $(PKG_CONFIG) --libs libmicrohttpd)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka)
CMOCKA_LIBS   = $(shell $(PKG_CONFIG) --libs cmocka)
BPF_CFLAGS_PC = $(shell $(PKG_CONFIG) --cflags libbpf)
BPF_LIBS      = $(shell $(PKG_CONFIG) --libs libbpf)
PCAP_LIBS     = $(shell $(PKG_CONFIG) --libs libpcap)
DPDK_CFLAGS   = $(shell $(PKG_CONFIG) --cflags libdpdk)
# rte_vdev_init (lb-dpdk creates its TAP devices) is in a driver library the
# libdpdk .pc file leaves out.
DPDK_LIBS     = $(shell $(PKG_CONFIG) --libs libdpdk) -lrte_bus_vdev

# Messages and paths are cut to their buffers on purpose: no format-truncation.
WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	     -Wno-format-truncation
CFLAGS    ?= -O2 -g
# CPPFLAGS and LDFLAGS are the caller's (dpkg-buildflags sets them for the
# Debian package: fortified functions, full RELRO).
ALL_CFLAGS = -std=gnu11 $(WARNINGS) $(CFLAGS) $(CPPFLAGS) -I. -I$(BUILD) -MMD -MP $(CONFIG_CFLAGS)
# Unit tests run under AddressSanitizer and UndefinedBehaviorSanitizer; any
# report aborts the test binary, so the suite fails.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS = -std=gnu11 $(WARNINGS) -O1 -g $(SAN_FLAGS) -I. -I$(BUILD) -MMD -MP \
	     $(CONFIG_CFLAGS) $(CMOCKA_CFLAGS) $(BPF_CFLAGS_PC)
# clang -target bpf does not search the multiarch directory that holds asm/.
BPF_CLANG_FLAGS = -target bpf -g -O2 -Wall -Wextra -Werror -I. \
		  -idirafter /usr/include/$(shell $(CC) -dumpmachine)

# The portable core shared by lbd, lb-dpdk, the benchmarks and the tests.
CORE_SRCS := controlplane/maglev.c controlplane/conf.c dataplane/pkt.c dataplane/counters.c \
	     dataplane/chan.c dataplane/flow_table.c dataplane/gen.c controlplane/agent.c
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
CORE_SAN_OBJS := $(CORE_SRCS:%.c=$(BUILD)/san/%.o)

# lbd's modules that the unit tests drive directly, without its sockets.
LBD_CORE_SRCS := controlplane/model.c controlplane/health.c controlplane/health_syn.c \
		 controlplane/tables.c \
		 controlplane/lbd.c controlplane/log.c controlplane/publish.c controlplane/ctl.c \
		 controlplane/ctl_grammar.c controlplane/state.c controlplane/config_dump.c \
		 controlplane/metrics.c controlplane/xdp.c controlplane/announce.c dataplane/nl.c
LBD_CORE_OBJS := $(LBD_CORE_SRCS:%.c=$(BUILD)/obj/%.o)
LBD_CORE_SAN_OBJS := $(LBD_CORE_SRCS:%.c=$(BUILD)/san/%.o)
LBD_SRCS := controlplane/lbd_main.c $(LBD_CORE_SRCS)
LBD := $(BUILD)/lbd

# lb-dpdk's flow state file (portable, with zlib's CRC-32): linked into
# lb-dpdk and the unit tests only, so that nothing else needs zlib.
FLOW_STATE_SRCS := dataplane/flow_state.c
ZLIB_LIBS = $(shell $(PKG_CONFIG) --libs zlib)

# lb-dpdk's modules, built against DPDK (its -march and headers).
DPDK_SRCS := dataplane/worker.c dataplane/eal.c dataplane/nl.c dataplane/nexthop.c dataplane/port.c \
	     dataplane/control.c dataplane/telemetry.c dataplane/handover.c dataplane/unmap_guard.c
DPDK_OBJS := $(DPDK_SRCS:%.c=$(BUILD)/dpdk/%.o)
LB_DPDK := $(BUILD)/lb-dpdk
DPDK_BENCHES := $(BUILD)/bench/bench_worker
# Benchmarks of lbd's modules (linked with them, like the unit tests).
LBD_BENCHES := $(BUILD)/bench/bench_health
# The XDP balancer's benchmark: lbd's loader and an empty test program.
XDP_BENCHES := $(BUILD)/bench/bench_xdp

# lbgen, the traffic generator: a portable core (flows, frames, the receive
# parser and accounting, latency, the NDR search, options, reports) that the
# unit tests link too, and its DPDK program.
LBGEN_CORE_SRCS := tools/lbgen/flowset.c tools/lbgen/frame.c tools/lbgen/mix.c \
		   tools/lbgen/rxparse.c tools/lbgen/latency.c tools/lbgen/track.c \
		   tools/lbgen/ndr.c tools/lbgen/opts.c tools/lbgen/report.c
LBGEN_CORE_OBJS := $(LBGEN_CORE_SRCS:%.c=$(BUILD)/obj/%.o)
LBGEN_CORE_SAN_OBJS := $(LBGEN_CORE_SRCS:%.c=$(BUILD)/san/%.o)
LBGEN := $(BUILD)/lbgen

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
BENCHES := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))
PLAIN_BENCHES := $(filter-out $(DPDK_BENCHES) $(LBD_BENCHES) $(XDP_BENCHES),$(BENCHES))

# Fulcrum's BPF programs and the tools that load them.
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
DECAP := $(BUILD)/fulcrum-decap
# The reference agent a GPU node runs for lbd's agent check.
AGENT := $(BUILD)/fulcrum-agent
# The operator's command line for lbd.
LBCTL := $(BUILD)/lbctl

# BPF programs of the tests (the shared-header agreement checks) and of the
# benchmarks (xdp_pass, bench_xdp's baseline).
TEST_BPF_SRCS := $(wildcard tests/bpf/*.bpf.c)
TEST_BPF_OBJS := $(TEST_BPF_SRCS:tests/bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
TEST_BPF_SKELS := $(TEST_BPF_SRCS:tests/bpf/%.bpf.c=$(BUILD)/bpf/%.skel.h)
BPF_TESTS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/%,$(wildcard tests/bpf/test_*.c))
# The guest side of tests/bpf/test_kernel_61.sh, which boots Debian 12's 6.1
# kernel under qemu: the BPF objects, lbd's XDP loader with the fixtures, and
# fulcrum-decap, checked inside the virtual machine.
KERNEL_GUEST := $(BUILD)/guest/kernel_guest
KERNEL_TESTS := $(wildcard tests/bpf/test_*.sh)
# End-to-end suites: namespaces, the real daemons, real TCP/UDP (root).
E2E_TESTS := $(wildcard tests/e2e/test_*.sh)
# Installation suites: make install, the units, the manuals, the set-up
# helper, the Debian package.
INSTALL_TESTS := $(wildcard tests/install/test_*.sh)
# The chaos suite (tests/chaos, README "Chaos suite"): make check runs it for
# CHAOS_TEST_SECONDS, make chaos for CHAOS_SECONDS; CHAOS_SEED replays a
# schedule (empty: a random seed, printed).
CHAOS_SUITE := tests/chaos/chaos.sh
CHAOS_SECONDS ?= 180
CHAOS_TEST_SECONDS ?= 60
CHAOS_SEED ?=
# The benchmark suite's driver, on one quick benchmark (no figure checked).
BENCH_TESTS := $(wildcard tests/bench/test_*.sh)
# make bench: which steps (all when empty) and runs per figure (each
# program's default when empty); see tests/bench/suite.sh.
STEPS ?=
BENCH_RUNS ?=

# libFuzzer harnesses of every parser that takes outside input (tests/fuzz,
# README "Fuzzing"), built with clang: the code under test with coverage
# instrumentation, AddressSanitizer and UndefinedBehaviorSanitizer, each
# harness linked with libFuzzer's main. The objects go into one archive, so a
# harness links only the modules it reaches.
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZERS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_LIB := $(BUILD)/fuzz/libfulcrum.a
FUZZ_LIB_OBJS := $(CORE_SRCS:%.c=$(BUILD)/fuzz/obj/%.o) $(LBD_CORE_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# clang has no -Wformat-truncation to silence (and refuses the unknown option).
FUZZ_CFLAGS = -std=gnu11 $(filter-out -Wno-format-truncation,$(WARNINGS)) -O1 -g $(FUZZ_SAN) \
	      -fsanitize=fuzzer-no-link -I. -I$(BUILD) -MMD -MP $(CONFIG_CFLAGS) $(BPF_CFLAGS_PC)
# `make fuzz`: seconds per harness, which harnesses, merge what they found
# into the committed corpus (1), extra libFuzzer flags.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_MERGE ?= 0
FUZZ_ARGS ?=

# What `make install` puts on an edge server (lbgen among them, for line-rate
# tests) and the GPU nodes' two tools.
PROGRAMS := $(LBD) $(LB_DPDK) $(LBCTL) $(DECAP) $(AGENT) $(LBGEN)

.PHONY: all help deps test check unit-tests bench bench-programs clean format demo programs install \
	uninstall deb fuzz fuzzers chaos
# (`make help` reads a target's first line: more prerequisites go on another.)
all: $(LBD) $(LBCTL) $(LB_DPDK) $(DECAP) $(AGENT) $(LBGEN) $(BENCHES) ## Build everything into build/
all: $(UNIT_TESTS) $(BPF_TESTS) $(KERNEL_GUEST) $(FUZZERS)

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'
	@echo "  Variables: V=1 (full commands), BUILD=dir, CC, CLANG, CFLAGS, CPPFLAGS, LDFLAGS"
	@echo "  bench: STEPS=\"worker pkt system xdp maglev health\" (a subset), BENCH_RUNS=N"
	@echo "  fuzz: FUZZ_SECONDS (60, per harness), FUZZ_TARGETS ($(FUZZ_NAMES)),"
	@echo "    FUZZ_MERGE=1 (keep new inputs in tests/fuzz/corpus), FUZZ_ARGS (libFuzzer flags)"
	@echo "  chaos: CHAOS_SECONDS ($(CHAOS_SECONDS)), CHAOS_SEED (replay a schedule; random when empty);"
	@echo "    make check runs it for CHAOS_TEST_SECONDS ($(CHAOS_TEST_SECONDS))"
	@echo "  install/uninstall: DESTDIR, PREFIX (/usr/local), bindir, sbindir, sysconfdir,"
	@echo "    mandir, unitdir, bashcompdir (see README, \"Install on an edge server\")"

deps: ## Install missing Debian packages (root)
	$(Q)sh tools/install-deps.sh

test: ## Install what is missing, build, run every test suite
	$(Q)sh tools/install-deps.sh
	$(Q)$(MAKE) --no-print-directory check

check: $(UNIT_TESTS) $(BPF_TESTS) $(FUZZERS) $(LBD) $(LBCTL) ## Run the test suites (no install step)
check: $(LB_DPDK) $(DECAP) $(AGENT) $(LBGEN) $(BUILD)/bench/bench_maglev $(KERNEL_GUEST) \
       $(BPF_OBJS) $(TEST_BPF_OBJS)
	$(Q)BUILD=$(BUILD) CHAOS_SECONDS=$(CHAOS_TEST_SECONDS) CHAOS_SEED=$(CHAOS_SEED) \
		sh tests/run-suites.sh $(UNIT_TESTS) tests/fuzz/run.sh $(BPF_TESTS) \
		$(KERNEL_TESTS) $(E2E_TESTS) $(CHAOS_SUITE) $(INSTALL_TESTS) $(BENCH_TESTS)

chaos: $(LBD) $(LBCTL) $(LB_DPDK) $(DECAP) $(AGENT) ## Run the chaos suite for CHAOS_SECONDS (root; CHAOS_SEED=N replays)
	$(Q)BUILD=$(BUILD) CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_SEED=$(CHAOS_SEED) \
		sh tests/run-suites.sh $(CHAOS_SUITE)

fuzzers: $(FUZZERS) ## Build the libFuzzer harnesses into build/fuzz

fuzz: $(FUZZERS) ## Fuzz each harness for FUZZ_SECONDS (new inputs kept in build/fuzz/work)
	$(Q)BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MERGE=$(FUZZ_MERGE) \
		FUZZ_ARGS="$(FUZZ_ARGS)" sh tests/fuzz/run.sh fuzz $(FUZZ_TARGETS)

demo: ## Install what is missing, build, run the demo (root)
	$(Q)sh tools/install-deps.sh
	$(Q)$(MAKE) --no-print-directory $(LBD) $(LBCTL) $(LB_DPDK) $(DECAP) $(AGENT)
	$(Q)BUILD=$(BUILD) bash tools/demo/demo.sh

bench: ## Install what is missing, build, run the benchmark suite (STEPS=..., BENCH_RUNS=N)
	$(Q)sh tools/install-deps.sh
	$(Q)$(MAKE) --no-print-directory bench-programs
	$(Q)BUILD=$(BUILD) BENCH_RUNS=$(BENCH_RUNS) bash tests/bench/suite.sh $(STEPS)

# What make bench builds once the packages are there (a recipe of its own,
# so that make says nothing when all is built): the benchmark programs, and
# lbgen, lb-dpdk and lbd for the system step.
bench-programs: $(BENCHES) $(LBGEN) $(LB_DPDK) $(LBD)
	@:

programs: $(PROGRAMS) ## Build only the installed programs (what the Debian package builds)

# ---- installation ----
# GNU conventions: every path below may be set on the command line, and
# DESTDIR is put in front of each (a staging root, as for the package).
# PREFIX=/usr puts the configuration in /etc and the units where Debian keeps
# its own; any other prefix keeps both under it: $(PREFIX)/etc, and
# $(PREFIX)/lib/systemd/system, which systemd reads too for /usr/local.
PREFIX      ?= /usr/local
bindir      ?= $(PREFIX)/bin
sbindir     ?= $(PREFIX)/sbin
datadir     ?= $(PREFIX)/share
mandir      ?= $(datadir)/man
bashcompdir ?= $(datadir)/bash-completion/completions
ifeq ($(PREFIX),/usr)
sysconfdir  ?= /etc
unitdir     ?= /lib/systemd/system
else
sysconfdir  ?= $(PREFIX)/etc
unitdir     ?= $(PREFIX)/lib/systemd/system
endif
INSTALL     ?= install

# Daemons and root-only tools go to sbin; fulcrum-agent runs as any user, and
# lbgen is a test tool (section 1), run by whoever may open the DPDK ports.
INSTALL_SBIN := $(LBD) $(LB_DPDK) $(LBCTL) $(DECAP) tools/fulcrum-setup
INSTALL_BIN  := $(AGENT) $(LBGEN)
MAN_PAGES    := $(wildcard tools/man/*.[158])
UNITS        := lbd.service lb-dpdk.service
CONF_FILE     = $(DESTDIR)$(sysconfdir)/fulcrum/fulcrum.conf

install: $(PROGRAMS) ## Install programs, units, manuals, completion, sample config
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d $(DESTDIR)$(sbindir) $(DESTDIR)$(bindir) $(DESTDIR)$(unitdir) \
		$(DESTDIR)$(bashcompdir) $(DESTDIR)$(sysconfdir)/fulcrum
	$(Q)$(INSTALL) -m 0755 $(INSTALL_SBIN) $(DESTDIR)$(sbindir)/
	$(Q)$(INSTALL) -m 0755 $(INSTALL_BIN) $(DESTDIR)$(bindir)/
	$(Q)for page in $(MAN_PAGES); do \
		dir=$(DESTDIR)$(mandir)/man$${page##*.}; \
		$(INSTALL) -d $$dir && $(INSTALL) -m 0644 $$page $$dir/ || exit 1; \
	done
	$(Q)$(INSTALL) -m 0644 tools/lbctl.bash-completion $(DESTDIR)$(bashcompdir)/lbctl
	$(Q)for unit in $(UNITS); do \
		sed -e 's|@SBINDIR@|$(sbindir)|g' -e 's|@SYSCONFDIR@|$(sysconfdir)|g' \
			tools/systemd/$$unit.in >$(DESTDIR)$(unitdir)/$$unit.tmp && \
		chmod 0644 $(DESTDIR)$(unitdir)/$$unit.tmp && \
		mv $(DESTDIR)$(unitdir)/$$unit.tmp $(DESTDIR)$(unitdir)/$$unit || exit 1; \
	done
	$(Q)if [ -e $(CONF_FILE) ]; then \
		echo "  kept $(CONF_FILE) as it is (the sample is config/fulcrum.conf)"; \
	else \
		$(INSTALL) -m 0644 config/fulcrum.conf $(CONF_FILE); \
	fi

uninstall: ## Remove what install put there (same variables); an edited config stays
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR)$(sbindir)/,$(notdir $(INSTALL_SBIN))) \
		$(addprefix $(DESTDIR)$(bindir)/,$(notdir $(INSTALL_BIN))) \
		$(addprefix $(DESTDIR)$(unitdir)/,$(UNITS)) $(DESTDIR)$(bashcompdir)/lbctl
	$(Q)for page in $(notdir $(MAN_PAGES)); do \
		rm -f $(DESTDIR)$(mandir)/man$${page##*.}/$$page; \
	done
	$(Q)if cmp -s config/fulcrum.conf $(CONF_FILE); then \
		rm -f $(CONF_FILE); rmdir $(DESTDIR)$(sysconfdir)/fulcrum 2>/dev/null || true; \
	elif [ -e $(CONF_FILE) ]; then \
		echo "  kept $(CONF_FILE): it differs from the sample"; \
	fi

deb: ## Build the Debian packages into build/deb (dpkg-buildpackage on a copy of the tree)
	$(Q)sh tools/build-deb.sh $(BUILD)/deb

format: ## Re-indent the C sources with .clang-format
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

clean: ## Remove build/
	$(Q)rm -rf $(BUILD)

$(BUILD)/obj/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/dpdk/%.o: %.c
	$(call msg,CC-DPDK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(DPDK_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) -c $< -o $@

$(LBD): $(LBD_SRCS:%.c=$(BUILD)/obj/%.o) $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(JSON_LIBS) $(HTTP_LIBS) $(BPF_LIBS)

# lb-dpdk exports its munmap (dataplane/unmap_guard.c), so that DPDK's PMDs,
# loaded as plugins, call it rather than the C library's.
$(LB_DPDK): $(BUILD)/dpdk/dataplane/lb_dpdk.o $(DPDK_OBJS) $(CORE_OBJS) \
	    $(FLOW_STATE_SRCS:%.c=$(BUILD)/obj/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--export-dynamic-symbol=munmap -o $@ $^ $(DPDK_LIBS) \
		$(CONFIG_LIBS) $(ZLIB_LIBS) -lpthread

$(LBGEN): $(BUILD)/dpdk/tools/lbgen/lbgen.o $(LBGEN_CORE_OBJS) $(BUILD)/obj/dataplane/pkt.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DPDK_LIBS) $(PCAP_LIBS) $(JSON_LIBS) -lm -lpthread

$(PLAIN_BENCHES): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(CONFIG_LIBS) -lm

$(LBD_BENCHES): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LBD_CORE_OBJS) $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(CONFIG_LIBS) $(JSON_LIBS) $(HTTP_LIBS) $(BPF_LIBS) -lm

$(XDP_BENCHES): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BUILD)/obj/controlplane/xdp.o \
		 $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(BPF_LIBS) $(CONFIG_LIBS) -lm

$(KERNEL_GUEST): $(BUILD)/obj/tests/bpf/kernel_guest.o $(BUILD)/obj/controlplane/xdp.o $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(CONFIG_LIBS) -lm

$(DPDK_BENCHES): $(BUILD)/bench/%: $(BUILD)/dpdk/tests/bench/%.o $(BUILD)/dpdk/dataplane/worker.o \
		  $(BUILD)/dpdk/dataplane/eal.o \
		  $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(DPDK_LIBS) $(CONFIG_LIBS) -lm

$(BUILD)/tests/%: $(BUILD)/san/tests/unit/%.o $(CORE_SAN_OBJS) $(LBD_CORE_SAN_OBJS) \
		  $(LBGEN_CORE_SAN_OBJS) $(FLOW_STATE_SRCS:%.c=$(BUILD)/san/%.o)
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONFIG_LIBS) $(JSON_LIBS) $(HTTP_LIBS) \
		$(BPF_LIBS) $(ZLIB_LIBS) $(PCAP_LIBS) -lm

$(BUILD)/tests/test_bpf_%: $(BUILD)/san/tests/bpf/test_bpf_%.o $(CORE_SAN_OBJS) \
			   $(BUILD)/san/controlplane/xdp.o
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(CMOCKA_LIBS) $(BPF_LIBS) $(CONFIG_LIBS) -lm

$(BUILD)/fuzz/obj/%.o: %.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(call msg,LD-FUZZ,$@)
	$(Q)$(CLANG) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(CONFIG_LIBS) $(JSON_LIBS) \
		$(HTTP_LIBS) $(BPF_LIBS) -lpthread -lm

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	$(call msg,CLANG-BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CLANG_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.bpf.o: tests/bpf/%.bpf.c
	$(call msg,CLANG-BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CLANG_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/obj/tools/fulcrum-decap.o: $(BUILD)/bpf/decap.skel.h
$(BUILD)/obj/controlplane/xdp.o $(BUILD)/san/controlplane/xdp.o \
$(BUILD)/fuzz/obj/controlplane/xdp.o: $(BUILD)/bpf/balancer.skel.h

$(DECAP): $(BUILD)/obj/tools/fulcrum-decap.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BPF_LIBS)

$(LBCTL): $(BUILD)/obj/tools/lbctl.o $(BUILD)/obj/controlplane/ctl_grammar.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(JSON_LIBS)

$(AGENT): $(BUILD)/obj/tools/fulcrum-agent.o $(BUILD)/obj/controlplane/agent.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# The BPF test loaders include their skeletons (explicit targets: a pattern
# rule without a recipe would cancel the compile rule instead).
$(BPF_TESTS:$(BUILD)/tests/%=$(BUILD)/san/tests/bpf/%.o): $(TEST_BPF_SKELS) $(BUILD)/bpf/balancer.skel.h
$(XDP_BENCHES:$(BUILD)/bench/%=$(BUILD)/obj/tests/bench/%.o): $(BUILD)/bpf/xdp_pass.skel.h

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
