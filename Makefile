# py-heap: a Python-aware heap inspector for GDB.
#   make            build the library, build/bin/py-heap, the manual page and
#                   the bash completion (and what make install copies)
#   make demo       install what is missing, build, show py-heap on a demo core
#   make check      install what is missing, build, run every test
#   make bench      time py-heap against the in-process tools (2M and 10M
#                   objects: warm, busy, cold, cached; every command;
#                   BENCH_SIZES=2000000 for one size; snapshot and diff
#                   also at BENCH_SNAPDIFF_SIZES, 1M and 3M)
#   make install    install under PREFIX (default /usr/local); DESTDIR too
#   make uninstall  remove what make install put there (same variables)
#   make deb        the Debian packages, into build/deb (dpkg-buildpackage)

CC ?= cc
BUILD ?= build
PYTHON ?= /usr/bin/python3.11
# What the build runs to make the bash completion (any Python 3).
PYTHON3 ?= python3

# The one version number (ph_version(), the GDB script's check, pyheap.pc,
# the library's file name, the Debian package's version all come from it).
VERSION := $(shell cat VERSION)
# The library's ABI: raised (libpyheap.so.N, libpyheapN) when a release
# changes or drops something pyheap.h declares, or the GDB script's ctypes
# bindings would break. Adding functions keeps it.
SOMAJOR := 0
SONAME := libpyheap.so.$(SOMAJOR)

# Where make install puts things: the GNU names, PREFIX below them.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# where bash-completion looks (XDG_DATA_DIRS: /usr/local/share, /usr/share)
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# The directory GDB itself reads at start (gdb --configuration:
# --with-system-gdbinit-dir; Debian's: /etc/gdb/gdbinit.d), so that every
# GDB session has py-heap; empty: install no such file.
GDBINITDIR ?= $(or $(shell gdb --configuration 2>/dev/null | \
	sed -n 's/.*--with-system-gdbinit-dir=\([^ ]*\).*/\1/p'),/etc/gdb/gdbinit.d)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC \
	-fvisibility=hidden -Inative/include -Inative/src \
	-DPH_VERSION='"$(VERSION)"'
# graphviz (libgvc, libcgraph) draws graph's and report's pictures: opened
# with dlopen by render_graph.c when one is drawn, not linked (its -dev
# package's headers give the types)
LDLIBS := -lelf -lz -ldl -lm -lpthread

LIB_SRCS := $(wildcard native/src/*.c)
LIB_OBJS := $(patsubst native/src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
HDRS := $(wildcard native/src/*.h) native/include/pyheap.h

# The library as the dynamic linker wants it: the file, its SONAME link and
# the link the linker (-lpyheap) and the tests (PYHEAP_LIB) use.
LIB_FILE := libpyheap.so.$(VERSION)
LIB_REAL := $(BUILD)/lib/$(LIB_FILE)
LIB := $(BUILD)/lib/libpyheap.so
BIN := $(BUILD)/bin/py-heap
MAN := $(BUILD)/man/py-heap.1
COMPLETION := $(BUILD)/completion/py-heap

# What make install copies that depends on where it installs (the
# directories above): made in $(BUILD)/install, remade when they change.
INST := $(BUILD)/install
INST_FILES := $(INST)/bin/py-heap $(INST)/pyheap.pc $(INST)/py-heap.py \
	$(INST)/gdbinit.py

# The build tree's py-heap finds its library beside it; the installed one
# in LIBDIR, by RUNPATH unless that is a directory the dynamic linker
# searches anyway (Debian's /usr/lib/<triplet>: no RUNPATH there).
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
SYSTEM_LIBDIRS := /lib /usr/lib /lib64 /usr/lib64 \
	$(if $(MULTIARCH),/lib/$(MULTIARCH) /usr/lib/$(MULTIARCH))
INST_RPATH := $(if $(filter $(SYSTEM_LIBDIRS),$(patsubst %/,%,$(LIBDIR))),,$(LIBDIR))

# The sanitizer build: the same sources, in their own directory.
SAN := $(BUILD)/san
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

.PHONY: all deps demo check check-ft interps unit unit-san integration bench fuzz fuzz-smoke \
	install uninstall deb packaging clean FORCE

all: $(LIB) $(BIN) $(MAN) $(COMPLETION) $(INST_FILES)

$(BUILD)/obj/%.o: native/src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/commands.o: VERSION

$(LIB_REAL): $(LIB_OBJS) Makefile
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $(LIB_OBJS) \
		$(LDLIBS)

$(LIB): $(LIB_REAL)
	ln -sfn $(LIB_FILE) $(BUILD)/lib/$(SONAME)
	ln -sfn $(SONAME) $@

$(BIN): native/cli/main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD)/lib -lpyheap \
		-Wl,-rpath,'$$ORIGIN/../lib'

# The manual page, made from the command table by the program itself.
$(MAN): $(BIN)
	@mkdir -p $(dir $@)
	$(BIN) help --man > $@.tmp && mv $@.tmp $@

# The bash completion: completion/py-heap.bash's function, with the command
# table (help --json: commands, options, choices, what each completes).
$(COMPLETION): $(BIN) completion/py-heap.bash scripts/gen-completion.py
	@mkdir -p $(dir $@)
	$(BIN) --json help > $@.json
	$(PYTHON3) scripts/gen-completion.py $@.json completion/py-heap.bash \
		> $@.tmp && mv $@.tmp $@ && rm -f $@.json

# The installation directories, as last built for; rewritten only when they
# change, so that what depends on them is remade then and only then.
$(INST)/dirs: FORCE
	@mkdir -p $(dir $@)
	@echo 'PREFIX=$(PREFIX) LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR)' \
		'DATADIR=$(DATADIR) RPATH=$(INST_RPATH)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(INST)/bin/py-heap: native/cli/main.c $(LIB) $(INST)/dirs
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD)/lib -lpyheap \
		$(if $(INST_RPATH),-Wl$(comma)-rpath$(comma)$(INST_RPATH))

$(INST)/pyheap.pc: native/pyheap.pc.in VERSION $(INST)/dirs
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		$< > $@

# The GDB script as installed: the version it is for and the library's
# path written in (in the source tree it reads ../VERSION, ../build/lib).
$(INST)/py-heap.py: gdb/py-heap.py VERSION $(INST)/dirs
	sed -e 's|^_PYHEAP_VERSION = None$$|_PYHEAP_VERSION = "$(VERSION)"|' \
		-e 's|^_PYHEAP_LIBRARY = None$$|_PYHEAP_LIBRARY = "$(LIBDIR)/$(SONAME)"|' \
		$< > $@.tmp
	grep -q '^_PYHEAP_VERSION = "$(VERSION)"$$' $@.tmp
	grep -q '^_PYHEAP_LIBRARY = "$(LIBDIR)/$(SONAME)"$$' $@.tmp
	mv $@.tmp $@

$(INST)/gdbinit.py: gdb/gdbinit.py $(INST)/dirs
	sed -e 's|@SCRIPT@|$(DATADIR)/py-heap/gdb/py-heap.py|' $< > $@

comma := ,

FORCE:

deps:
	@bash scripts/install-deps.sh

demo: deps all
	@bash scripts/demo.sh

# ---- tests -----------------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/*.c)

$(BUILD)/tests/unit: $(UNIT_SRCS) $(LIB_SRCS) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $(UNIT_SRCS) $(LIB_SRCS) \
		$(LDLIBS) -lcunit

$(SAN)/tests/unit: $(UNIT_SRCS) $(LIB_SRCS) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit -o $@ $(UNIT_SRCS) \
		$(LIB_SRCS) $(LDLIBS) -lcunit

$(SAN)/bin/py-heap: native/cli/main.c $(LIB_SRCS) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ native/cli/main.c $(LIB_SRCS) \
		$(LDLIBS)

# The library with the sanitizers, for gdb_checks.py --san-lib (ctypes, as
# GDB loads it; GDB itself does not run under ASan).
$(SAN)/lib/libpyheap.so: $(LIB_SRCS) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -shared -o $@ $(LIB_SRCS) $(LDLIBS)
SAN_PRELOAD = $(shell $(CC) -print-file-name=libasan.so) \
	$(shell $(CC) -print-file-name=libubsan.so)

unit: $(BUILD)/tests/unit
	$(BUILD)/tests/unit

unit-san: $(SAN)/tests/unit
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(SAN)/tests/unit

# Every supported interpreter on this machine: Debian's python3.11, the
# image's pyenv builds of supported versions (scripts/interpreters.sh).
PYTHONS = $(shell bash scripts/interpreters.sh)
# the free-threaded builds (3.13t, 3.13td; fixtures/provision.sh trixie-ft)
FT_PYTHONS = $(shell PYHEAP_FT_ONLY=1 bash scripts/interpreters.sh)

# Every suite on each interpreter: all of them (make interps
# LOOP_PYTHONS="..." for some; make check-ft for the free-threaded ones).
# Each interpreter's cores but $(PYTHON)'s, which the steps after the loop
# read, are removed after its suites where less than PYHEAP_KEEP_FREE_GB
# (8) is free (drop_cores.py).
LOOP_PYTHONS = $(PYTHONS) $(FT_PYTHONS)
# The tests' runs keep their caches (index, graph, answers, layouts) in the
# build tree, not in the user's ~/.cache/py-heap: a run of the tests starts
# from what its own build wrote, and leaves the user's cache alone
# (cache_checks.py and contract_checks.py set directories of their own).
# Not packaging's: the installed package runs in its root as a user's
# would, its cache in that root's ~/.cache (package_checks.py checks that
# nothing else is written there).
TEST_CACHE = $(abspath $(BUILD))/test-cache
interps integration: export PYHEAP_CACHE_DIR = $(TEST_CACHE)

interps: all $(SAN)/bin/py-heap $(SAN)/lib/libpyheap.so
	@bash scripts/interpreters.sh >/dev/null
	@echo "interpreters: $(LOOP_PYTHONS)"
	set -e; for py in $(LOOP_PYTHONS); do \
		$(PYTHON) tests/integration/run.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py; \
		$(PYTHON) tests/integration/graph_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --gdb --python $$py; \
		$(PYTHON) tests/integration/retained_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --gdb --python $$py; \
		$(PYTHON) tests/integration/diff_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --gdb --python $$py; \
		$(PYTHON) tests/integration/readable_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py \
			$$([ "$$py" = "$(PYTHON)" ] && echo --gdb); \
		$(PYTHON) tests/integration/gdb_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py; \
		$(PYTHON) tests/integration/cache_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py; \
		$(PYTHON) tests/integration/pictures_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py; \
		$(PYTHON) tests/integration/csizes_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py; \
		$(PYTHON) tests/integration/apps_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py \
			--only stdlib_mix --checks $(APPS_FAST_CHECKS); \
		case " $(PYTHON) $(FT_PYTHONS) " in *" $$py "*) ;; *) \
			$(PYTHON) tests/integration/drop_cores.py \
				--cores-dir $(BUILD)/cores --python $$py ;; esac; \
	done
	set -e; for py in $(filter $(FT_PYTHONS),$(LOOP_PYTHONS)); do \
		$(PYTHON) tests/integration/ft_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $$py; \
		ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
			tests/integration/ft_checks.py --bin $(SAN)/bin/py-heap \
			--cores-dir $(BUILD)/cores --python $$py; \
		ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
			tests/integration/debugoffsets_checks.py \
			--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores \
			--python $$py; \
		ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
			tests/integration/cache_checks.py \
			--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores \
			--python $$py; \
		$(PYTHON) tests/integration/drop_cores.py \
			--cores-dir $(BUILD)/cores --python $$py; \
	done

integration: interps
	$(PYTHON) tests/integration/pictures_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores --chromium --gdb
	$(PYTHON) tests/integration/debuginfo_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores
	$(PYTHON) tests/integration/unsupported_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores
	$(PYTHON) tests/integration/subinterp_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=$(LSAN_GRAPHVIZ) $(PYTHON) \
		tests/integration/subinterp_checks.py --bin $(SAN)/bin/py-heap \
		--cores-dir $(BUILD)/cores --quick
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
		tests/integration/debugoffsets_checks.py \
		--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores
	$(PYTHON) tests/integration/contract_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
		tests/integration/contract_checks.py --bin $(SAN)/bin/py-heap \
		--cores-dir $(BUILD)/cores --quick --no-gdb
	$(PYTHON) tests/integration/hostile_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/integration/run.py \
		--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores --no-gdb
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/integration/graph_checks.py \
		--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=$(LSAN_GRAPHVIZ) $(PYTHON) \
		tests/integration/pictures_checks.py --bin $(SAN)/bin/py-heap \
		--cores-dir $(BUILD)/cores
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
		tests/integration/retained_checks.py --bin $(SAN)/bin/py-heap \
		--cores-dir $(BUILD)/cores --oracle heap_graph
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/integration/diff_checks.py \
		--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) \
		tests/integration/readable_checks.py --bin $(SAN)/bin/py-heap \
		--cores-dir $(BUILD)/cores
	$(PYTHON) tests/integration/gdb_checks.py --bin $(BIN) \
		--cores-dir $(BUILD)/cores --san-lib $(SAN)/lib/libpyheap.so \
		--preload "$(SAN_PRELOAD)"
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/integration/cache_checks.py \
		--bin $(SAN)/bin/py-heap --cores-dir $(BUILD)/cores
	$(PYTHON) tests/integration/damage_checks.py --bin $(SAN)/bin/py-heap \
		--plain-bin $(BIN) --cores-dir $(BUILD)/cores \
		--repro-dir $(BUILD)/damage-repro
	PYHEAP_WRAPPER="$(VALGRIND)" $(PYTHON) tests/integration/run.py \
		--bin $(BIN) --cores-dir $(BUILD)/cores --no-gdb --no-live
	if [ "$(APPS_CHECKS)" = 1 ]; then \
		$(PYTHON) tests/integration/apps_checks.py --bin $(BIN) \
			--cores-dir $(BUILD)/cores --python $(PYTHON) && \
		for py in $(APPS_NUMPY_PYTHONS); do \
			$(PYTHON) tests/integration/apps_checks.py --bin $(BIN) \
				--cores-dir $(BUILD)/cores --python $$py \
				--only numpy_pandas --only asyncio_service \
				|| exit 1; \
		done; fi

# What graphviz's libraries leak by themselves, left out of LeakSanitizer's
# report (full stacks, so that they reach those libraries).
LSAN_GRAPHVIZ := suppressions=$(CURDIR)/tests/integration/lsan-graphviz.supp:fast_unwind_on_malloc=0

# Real applications' heaps (issue 16, apps_checks.py): all seven fixtures
# with all their checks on Debian's 3.11, and numpy_pandas and
# asyncio_service on sid's 3.14 (Debian's numpy 2.4 there); make check
# APPS_CHECKS=0 leaves these out (the loop's stdlib_mix stays).
APPS_CHECKS ?= 1
APPS_NUMPY_PYTHONS = $(filter %/sid::/usr/bin/python3.14,$(PYTHONS))
# On every interpreter of the loop, the standard library's fixture
# (seconds) with every group of checks: types' counts and bytes, sampled
# referrers and refcounts, what gc.collect() does (finalizers, frozen
# objects, gc.garbage), refcheck's deficits.
APPS_FAST_CHECKS ?= types,referrers,cycles,refcheck

# The integration tests' core runs again under valgrind's memcheck: no
# error, no definite leak (damage_checks.py runs the whole command set so).
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite

# ---- fuzzing (clang's libFuzzer) -----------------------------------------
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Inative/include -Inative/src \
	-DPH_VERSION='"$(VERSION)"' -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZERS := $(BUILD)/fuzz/fuzz_core $(BUILD)/fuzz/fuzz_heap $(BUILD)/fuzz/fuzz_layout \
	$(BUILD)/fuzz/fuzz_maps $(BUILD)/fuzz/fuzz_snapshot $(BUILD)/fuzz/fuzz_symcache \
	$(BUILD)/fuzz/fuzz_diffresult $(BUILD)/fuzz/fuzz_index

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_seed.h $(LIB_SRCS) $(HDRS) VERSION
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(LDLIBS)

# make fuzz FUZZ_SECONDS=1800: each target for that long
fuzz: deps $(FUZZERS)
	bash scripts/fuzz.sh $(BUILD) $(FUZZ_SECONDS)

# a short run and the regression inputs, part of make check
fuzz-smoke: $(FUZZERS)
	bash scripts/fuzz.sh $(BUILD) 30

check: deps all
	$(MAKE) unit unit-san integration fuzz-smoke packaging

# make install and uninstall (DESTDIR, PREFIX), pkg-config, the completion;
# the Debian packages installed, used and removed in a fresh bookworm root
# (fixtures/provision.sh bookworm-pkg).
packaging: all deb
	$(PYTHON) tests/package/package_checks.py --build $(BUILD) \
		--python $(PYTHON)

BENCH_SIZES ?= 2000000,10000000
# snapshot and diff alone (two cores, types on each) at these too (#18)
BENCH_SNAPDIFF_SIZES ?= 1000000,3000000
bench: deps all
	$(PYTHON) tests/bench/bench.py --bin $(BIN) --work-dir $(BUILD)/bench \
		--sizes $(BENCH_SIZES) --snapdiff-sizes $(BENCH_SNAPDIFF_SIZES) \
		--repeat 3 --callgrind
	$(PYTHON) tests/bench/bench_ft.py --bin $(BIN) --work-dir $(BUILD)/bench \
		--size 3000000

# ---- installing -------------------------------------------------------------
# Every file make install puts in place. The directories it had to create
# are noted in MANIFEST (with those of earlier installs), so that uninstall
# removes these files and those directories (when empty), nothing else.
INSTALLED = $(BINDIR)/py-heap $(LIBDIR)/$(LIB_FILE) $(LIBDIR)/$(SONAME) \
	$(LIBDIR)/libpyheap.so $(INCLUDEDIR)/pyheap.h $(PKGCONFIGDIR)/pyheap.pc \
	$(MANDIR)/man1/py-heap.1 $(BASHCOMPDIR)/py-heap \
	$(DATADIR)/py-heap/gdb/py-heap.py \
	$(if $(GDBINITDIR),$(GDBINITDIR)/py-heap.py)
INSTALL_DIRS = $(BINDIR) $(LIBDIR) $(INCLUDEDIR) $(PKGCONFIGDIR) \
	$(MANDIR)/man1 $(BASHCOMPDIR) $(DATADIR)/py-heap/gdb $(GDBINITDIR)
MANIFEST = $(DATADIR)/py-heap/created-dirs

# ldconfig only for the system itself (no DESTDIR) as root: it links and
# caches libpyheap.so.0 where the dynamic linker looks (/usr/local/lib).
LDCONFIG = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	command -v ldconfig >/dev/null; then ldconfig; fi

install: all
	@created=$$(cat "$(DESTDIR)$(MANIFEST)" 2>/dev/null); \
	for d in $(INSTALL_DIRS); do \
		while [ "$$d" != / ] && [ "$$d" != . ] && \
			[ ! -d "$(DESTDIR)$$d" ]; do \
			created="$$created $$d"; d=$$(dirname "$$d"); \
		done; \
	done; \
	printf '%s\n' $$created | sort -ru > $(INST)/created-dirs
	install -d $(addprefix $(DESTDIR),$(INSTALL_DIRS))
	install -m 755 $(INST)/bin/py-heap $(DESTDIR)$(BINDIR)/py-heap
	install -m 644 $(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_FILE)
	ln -sfn $(LIB_FILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libpyheap.so
	install -m 644 native/include/pyheap.h $(DESTDIR)$(INCLUDEDIR)/pyheap.h
	install -m 644 $(INST)/pyheap.pc $(DESTDIR)$(PKGCONFIGDIR)/pyheap.pc
	install -m 644 $(MAN) $(DESTDIR)$(MANDIR)/man1/py-heap.1
	install -m 644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/py-heap
	install -m 644 $(INST)/py-heap.py $(DESTDIR)$(DATADIR)/py-heap/gdb/py-heap.py
	$(if $(GDBINITDIR),install -m 644 $(INST)/gdbinit.py $(DESTDIR)$(GDBINITDIR)/py-heap.py)
	install -m 644 $(INST)/created-dirs $(DESTDIR)$(MANIFEST)
	@$(LDCONFIG)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@created=$$(cat "$(DESTDIR)$(MANIFEST)" 2>/dev/null); \
	rm -f "$(DESTDIR)$(MANIFEST)"; \
	for d in $(DATADIR)/py-heap/gdb $(DATADIR)/py-heap $$created; do \
		[ -d "$(DESTDIR)$$d" ] || continue; \
		rmdir "$(DESTDIR)$$d" 2>/dev/null && echo "rmdir $(DESTDIR)$$d"; \
	done; true
	@$(LDCONFIG)

# ---- the Debian packages ------------------------------------------------------
# py-heap_*.deb, libpyheap0_*.deb, libpyheap-dev_*.deb (and their -dbgsym)
# in $(BUILD)/deb, built by dpkg-buildpackage from a copy of this tree,
# checked by lintian.
deb:
	bash scripts/deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD)

# The free-threaded builds (3.13t, 3.13td) alone.
check-ft:
	$(MAKE) --no-print-directory interps LOOP_PYTHONS="$(FT_PYTHONS)"
