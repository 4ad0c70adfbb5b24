# pinion's one Makefile. `make` builds build/bin/pinion and the worker's Python side
# under build/lib/pinion/python; `make test` installs what is missing, builds, runs the
# unit tests under ASan+UBSan, the fuzz targets over their seeds, the black-box tests (a
# subset also against an ASan+UBSan pinion) and the browser tests, and ends with
# "N passed, N failed, N skipped" (docs/internals/testing.md).

VERSION      := $(shell cat VERSION)
BUILD        ?= build
PREFIX       ?= /usr/local
CC           ?= cc
TEST_PYTHON  ?= /usr/bin/python3
PYTHON_CONFIG ?= /usr/bin/python3-config

PKGS         := libevent jansson yaml-0.1 libpcre2-8 sqlite3
# libcurl is opened with dlopen on first use (core/curl_api.c); only its headers are
# needed to build.
# libcrypto and libarchive are opened the same way (core/crypto.c, core/tar.c): only
# libarchive's headers are needed. So is libpq (store/pq_api.c), only for a hub given a
# postgres:// database, hiredis (queue/hiredis_api.c), only for a redis:// queue (its
# headers are found as <hiredis/hiredis.h> under /usr/include), and libcmark
# (web/markdown.c, the hub's READMEs as HTML), with no headers at all.
CURL_CFLAGS  := $(shell pkg-config --cflags libcurl libarchive libpq 2>/dev/null)
PKG_CFLAGS   := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARNINGS     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS       ?= -O2 -g
ALL_CFLAGS   := -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) -Isrc \
                -DPINION_VERSION='"$(VERSION)"' $(PKG_CFLAGS) $(CURL_CFLAGS) -MMD -MP
SANITIZE     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Everything under src/ except the CLI's entry point and the worker extension (which
# is built against Python, not linked into pinion) goes into the library.
LIB_SRC      := $(filter-out src/cli/main.c,$(shell find src -name '*.c' -not -path 'src/worker/*' | sort))
# The pages under web/ are embedded: scripts/embed-web writes them into one generated
# C file that goes into the library beside src/web/web.c.
WEB_FILES    := $(shell find web -type f -not -name '.*' | sort)
WEB_GEN      := $(BUILD)/gen/web_assets.c
LIB_OBJ      := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/web_assets.o
ASAN_OBJ     := $(LIB_SRC:%.c=$(BUILD)/asan/%.o) $(BUILD)/asan/gen/web_assets.o
WORKER_SRC   := $(shell find src/worker -name '*.c' | sort)
PY_SRC       := $(shell find python -type f -name '*.py' | sort)
PY_OUT       := $(PY_SRC:python/%=$(BUILD)/lib/pinion/python/%)
UNIT_SRC     := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps test unit integration bench fuzz run install clean format
all: $(BUILD)/bin/pinion worker source

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SANITIZE) -DPN_TEST_BUILD -c $< -o $@

$(WEB_GEN): scripts/embed-web $(WEB_FILES)
	@python3 scripts/embed-web web $@

$(BUILD)/obj/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/asan/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SANITIZE) -DPN_TEST_BUILD -c $< -o $@

$(BUILD)/libpinion.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpinion-asan.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/pinion: $(BUILD)/obj/src/cli/main.o $(BUILD)/libpinion.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS) -ldl -lm

# pinion under ASan+UBSan, for the black-box tests that run against it (tests/run): the
# same library as the unit tests. `make asan` puts a copy of the plain build's lib/
# beside it (the worker's Python side, the staged source): a copy, not a link, because
# the hub's sandbox binds only the real folder found beside the binary.
$(BUILD)/asan/bin/pinion: $(BUILD)/asan/src/cli/main.o $(BUILD)/libpinion-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(PKG_LIBS) -ldl -lm

# The worker extension uses only Python's stable ABI (3.8 and later), so one build
# serves every Python; it is found at ../lib/pinion/python beside the binary.
.PHONY: worker
worker: $(if $(WORKER_SRC),$(BUILD)/lib/pinion/python/_pinion.abi3.so) $(PY_OUT) $(BUILD)/lib/pinion/python.compiled

# The worker's modules, byte-compiled for the build's Python: compiling them is most of
# a trivial model's start when nothing may write __pycache__ (PYTHONDONTWRITEBYTECODE,
# a read-only install, the hub's sandbox). checked-hash: still valid after `cp -R`
# (install), which does not keep the sources' times. Other Pythons compile as before.
$(BUILD)/lib/pinion/python.compiled: $(PY_OUT)
	$(TEST_PYTHON) -m compileall -q --invalidation-mode checked-hash $(BUILD)/lib/pinion/python
	@touch $@

$(BUILD)/lib/pinion/python/_pinion.abi3.so: $(WORKER_SRC) $(wildcard src/worker/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) -fPIC -shared \
	  -DPy_LIMITED_API=0x03080000 $(shell $(PYTHON_CONFIG) --includes) \
	  -o $@ $(WORKER_SRC) -lpthread

$(BUILD)/lib/pinion/python/%: python/%
	@mkdir -p $(dir $@)
	cp $< $@

# pinion's own source, staged beside the binary: `pinion build` hands it to the engine
# to compile pinion's runtime on each model's base image (src/image/dockerfile.c).
SOURCE_FILES := Makefile VERSION scripts/embed-web $(WEB_FILES) $(shell find src python -type f \( -name '*.[ch]' -o -name '*.py' -o -name '*.sh' \) | sort)
SOURCE_OUT   := $(SOURCE_FILES:%=$(BUILD)/lib/pinion/source/%)
.PHONY: source
source: $(SOURCE_OUT)
$(BUILD)/lib/pinion/source/%: %
	@mkdir -p $(dir $@)
	@cp -p $< $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libpinion-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SANITIZE) -DPN_TEST_BUILD -o $@ $< $(BUILD)/libpinion-asan.a \
	  $(PKG_LIBS) $(shell pkg-config --libs cmocka) -ldl -lm

# The scheduler's test driver (tests/integration/test_scheduler.py), under the sanitizers.
SCHEDULER_DRIVER := $(BUILD)/tests-bin/scheduler_driver
$(SCHEDULER_DRIVER): tests/scheduler_driver.c $(BUILD)/libpinion-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SANITIZE) -DPN_TEST_BUILD -o $@ $< $(BUILD)/libpinion-asan.a \
	  $(PKG_LIBS) -ldl -lm

unit: $(UNIT_BIN) $(SCHEDULER_DRIVER)

.PHONY: asan
asan: $(BUILD)/asan/bin/pinion worker source
	@rm -rf $(BUILD)/asan/lib && cp -R $(BUILD)/lib $(BUILD)/asan/lib

test: deps
	@$(MAKE) --no-print-directory all unit asan fuzz
	@tests/run

integration: all asan $(SCHEDULER_DRIVER)
	@tests/run --integration-only

$(BUILD)/bench/ipc_bench: bench/ipc_bench.c $(BUILD)/libpinion.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpinion.a $(PKG_LIBS) -ldl -lm

$(BUILD)/bench/metrics_bench: bench/metrics_bench.c $(BUILD)/libpinion.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpinion.a $(PKG_LIBS) -ldl -lm

$(BUILD)/bench/floor: bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(PKG_LIBS)

bench: deps all $(BUILD)/bench/ipc_bench $(BUILD)/bench/metrics_bench $(BUILD)/bench/floor
	@bench/run
	@bench/startup
	@bench/soak-hub --seconds 30
	@bench/scale

# libFuzzer targets (clang): `make fuzz` builds them; `make fuzz FUZZ_SECONDS=60` runs each
# for that long, every target even when one crashes (its crash-* file is kept in
# $(BUILD)/fuzz/), and fails at the end if any did. The library is compiled once with
# coverage hooks and the sanitizers; each target links against it.
FUZZ_SECONDS ?= 0
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_OBJ     := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/gen/web_assets.o

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -c $< -o $@

$(BUILD)/fuzz/obj/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -c $< -o $@

$(BUILD)/libpinion-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libpinion-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libpinion-fuzz.a \
	  $(PKG_LIBS) -ldl -lm

fuzz: $(FUZZ_BIN)
	@if [ "$(FUZZ_SECONDS)" != 0 ]; then crashed=; for f in $(FUZZ_BIN); do \
	  name=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$name- \
	    $(BUILD)/fuzz/corpus-$$name tests/fuzz/seeds/$$name 2>$(BUILD)/fuzz/$$name.log || crashed="$$crashed $$name"; \
	  grep -E "^(#[0-9]+.*DONE|stat::|==[0-9]+==ERROR|SUMMARY)" $(BUILD)/fuzz/$$name.log; \
	done; if [ -n "$$crashed" ]; then echo "fuzz: crashed:$$crashed (logs in $(BUILD)/fuzz/)"; exit 1; fi; fi

PORT ?= 8080
run: deps
	@$(MAKE) --no-print-directory all
	@PORT=$(PORT) scripts/run-main

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pinion
	install -m 755 $(BUILD)/bin/pinion $(DESTDIR)$(PREFIX)/bin/pinion
	cp -R $(BUILD)/lib/pinion/python $(DESTDIR)$(PREFIX)/lib/pinion/
	if [ -d $(BUILD)/lib/pinion/source ]; then cp -R $(BUILD)/lib/pinion/source $(DESTDIR)$(PREFIX)/lib/pinion/; fi

format:
	clang-format -i $$(find src tests/unit tests/fuzz -name '*.[ch]')

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) $(BUILD)/obj/src/cli/main.d \
         $(BUILD)/asan/src/cli/main.d
