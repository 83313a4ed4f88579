# EROFS fscache shared domains: build, boot, test and measure the series
# against stock Linux 6.12, side by side.  Everything derived lives in build/.
#
#   make demo                   series kernel + the sharing scenario, explained
#   make check [VARIANT=stock]  every test on a debug kernel (KASAN, lockdep, ...)
#   make series-check           the exported series: git am, checkpatch, every prefix
#                               builds (ONDEMAND=y/n), each stable fix alone builds
#                               and passes its reproducing tests (debug guest)
#   make series-check BASE=6.1  the stable fixes on Debian's 6.1.y: 6.12 patch as
#                               is?, and patches/stable-6.1/ alone (build only)
#   make series                 export the combined upstream series to build/series/
#   make series-edit            the series as commits in build/edit/linux, to change
#   make series-refresh         write build/edit/linux's commits back to patches/
#   make bench                  stock vs series benchmarks (table, JSON, plots)
#   make tools                  build the image builder, daemon and tests
#   make help                   this text
#
# Variables: VARIANT=series|stock  KSRC=/path/to/linux-6.12.y  STRESS=N
#            FUZZ=N FUZZ_SEED=S (compressed_fuzz_test: N cases from seed S)
#            SERIES_CHECK_FROM=N (series-check: resume at exported patch N;
#              a number past the last patch builds no prefix)
#            SERIES_CHECK_STABLE=0 (series-check: skip the stable-alone builds and tests)
#            SERIES_CHECK_REPRO=0 (series-check: stable fixes alone built, not booted)
#            SERIES_CHECK_STABLE_ONLY="N M" (series-check: only stable patches N, M)
#            SERIES_CHECK_REPRO_WITHOUT_FIX=1 (series-check: each fix's tests on the
#              pristine base, where they must fail: the teeth)

VARIANT ?= series
KSRC ?=
PATCHES ?=
export KSRC STRESS FUZZ FUZZ_SEED PATCHES SERIES_CHECK_FROM SERIES_CHECK_STABLE
export SERIES_CHECK_REPRO SERIES_CHECK_STABLE_ONLY SERIES_CHECK_REPRO_WITHOUT_FIX

B := build
SELFTEST := tools/testing/selftests/filesystems/erofs
HDR := $(B)/hdr
CFLAGS_TOOLS := -O2 -g -static -Wall -Wextra -Werror
# The kselftest harness as the series leaves it: the base tree's
# kselftest.h and kselftest_harness.h with the series' harness patch
# applied (a failed ASSERT must still run the fixture's teardown), for the
# tests of every variant.  It is not -Wextra clean: included as a system
# header, so -Werror judges only our code.
KSFT := $(B)/ksft
KSFT_FIX := $(wildcard patches/*-selftests-harness-*.patch)
CFLAGS_GUEST := $(CFLAGS_TOOLS) -I$(HDR)/include -isystem $(KSFT)

# Guest programs: every *_test.c and *_bench.c in the selftest directory.
GUEST_TESTS := $(patsubst $(SELFTEST)/%.c,$(B)/tools/guest/%,\
	$(wildcard $(SELFTEST)/*_test.c $(SELFTEST)/*_bench.c))
GUEST_BINS := $(B)/tools/guest/erofs_ondemand_daemon $(GUEST_TESTS)

.PHONY: help deps base tools demo check bench series series-check series-edit series-refresh clean

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@harness/deps.sh

base: deps
	@harness/base.sh

$(HDR)/.done: | base
	@mkdir -p $(HDR)
	@$(MAKE) -s -C $(B)/base/linux O=$(abspath $(B))/obj/headers ARCH=x86_64 \
		INSTALL_HDR_PATH=$(abspath $(HDR)) headers_install
	@touch $@

$(KSFT)/.done: $(KSFT_FIX) | base
	@rm -rf $(KSFT) && mkdir -p $(KSFT)
	@cp $(B)/base/linux/tools/testing/selftests/kselftest.h \
		$(B)/base/linux/tools/testing/selftests/kselftest_harness.h $(KSFT)/
	@for p in $(abspath $(KSFT_FIX)); do \
		(cd $(KSFT) && GIT_CEILING_DIRECTORIES=$(abspath $(B)) \
		 git apply -p4 "$$p") || exit 1; done
	@touch $@

# Host-side checks of the tools themselves (run by `make check`).
HOST_CHECKS := $(patsubst $(SELFTEST)/%.c,$(B)/tools/%,$(wildcard $(SELFTEST)/*_hostcheck.c))

tools: $(B)/tools/erofs-mkimage $(GUEST_BINS) $(HOST_CHECKS)

$(B)/tools/%_hostcheck: $(SELFTEST)/%_hostcheck.c $(wildcard $(SELFTEST)/*.h) $(SELFTEST)/ondemand_daemon.c $(HDR)/.done $(KSFT)/.done
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_GUEST) -o $@ $<

$(B)/tools/erofs-mkimage: $(wildcard $(SELFTEST)/mkimage*.c $(SELFTEST)/mkimage*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TOOLS) -o $@ $(filter %.c,$^)

$(B)/tools/guest/erofs_ondemand_daemon: $(SELFTEST)/ondemand_daemon.c $(SELFTEST)/daemon_gc.h $(HDR)/.done $(KSFT)/.done
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_GUEST) -o $@ $<

$(B)/tools/guest/%: $(SELFTEST)/%.c $(wildcard $(SELFTEST)/*.h) $(HDR)/.done $(KSFT)/.done
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_GUEST) -o $@ $< -lpthread

demo:
	@harness/run-suite.sh series base demo

check:
	@harness/run-suite.sh $(VARIANT) debug check

bench:
	@harness/bench.sh

series:
	@harness/series.sh export

series-check:
ifeq ($(BASE),6.1)
	@harness/stable-6.1.sh
else
	@harness/series.sh check
endif

series-edit:
	@harness/series.sh edit

series-refresh:
	@harness/series.sh refresh

clean:
	rm -rf $(B)/obj $(B)/run $(B)/tools $(B)/guest $(B)/series $(B)/hdr
