# Video Factory: one plain Makefile.
#   make            build the four programs and the test runner under build/
#   make test       unit tests (Check), then integration and browser tests on the real stack
#   make demo       start the local stack and render one video end to end
#   make up / down  start / stop the local stack under var/
#   make asan       the same tests with ASan/UBSan binaries (build-asan/)
#   make bench      render, event-stream and API benchmarks, and the mixed soak
#   make scale      4 workers on 500 short jobs, every step exactly once (slow)

BUILD    ?= build
CC       ?= cc
PKGS     := fcgi libcurl jansson libmariadb libavformat libavcodec libavfilter libavutil \
            libswscale libswresample espeak-ng libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lcrypt -lpthread -lm

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
            -Wwrite-strings -Wformat=2 -Wundef -Wno-missing-field-initializers
OPT      ?= -O2 -g
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude $(PKG_CFLAGS) -MMD -MP
ifeq ($(WERROR),1)
CFLAGS_ALL += -Werror
endif
ifeq ($(SANITIZER),address)
CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_SAN := -fsanitize=address,undefined
endif
ifeq ($(SANITIZER),fuzzer)
CFLAGS_ALL += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_SAN := -fsanitize=address,undefined
endif
CFLAGS_ALL += $(CFLAGS)

ifneq ($(V),1)
Q := @
endif

PROGRAM_MAINS := app/api/main.c app/sse/main.c app/worker/main.c app/cli/vfctl.c
LIB_SRCS  := $(filter-out $(PROGRAM_MAINS),$(wildcard app/*/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libvf.a
PROGRAMS  := $(BUILD)/vf-api $(BUILD)/vf-sse $(BUILD)/vf-worker $(BUILD)/vfctl
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(BUILD)/unit-tests
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
REPLAYS   := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay-%)
FUZZERS   := $(FUZZ_NAMES:%=$(BUILD)/fuzz-%)

.SECONDARY:
.PHONY: all test unit it e2e demo up down asan bench scale deps clean install fuzz fuzzers
all: $(PROGRAMS) $(UNIT_BIN) $(REPLAYS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/vf-api: $(BUILD)/app/api/main.o $(LIB)
$(BUILD)/vf-sse: $(BUILD)/app/sse/main.o $(LIB)
$(BUILD)/vf-worker: $(BUILD)/app/worker/main.o $(LIB)
$(BUILD)/vfctl: $(BUILD)/app/cli/vfctl.o $(LIB)
# the in-process render benchmark driven by scripts/bench.sh
$(BUILD)/vf-bench-render: $(BUILD)/tests/bench/render_bench.o $(LIB)
$(PROGRAMS) $(BUILD)/vf-bench-render:
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(UNIT_BIN): $(UNIT_OBJS) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs check) $(PKG_LIBS)

# Fuzz targets: replayed over their seed corpus and kept crashes in `make unit`
# (any compiler), fuzzed for real with libFuzzer by `make fuzz` (clang).
$(BUILD)/fuzz-replay-%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/fuzz-%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

fuzzers: $(FUZZERS)

deps:
	@scripts/deps.sh

unit: $(UNIT_BIN) $(REPLAYS)
	$(UNIT_BIN)
	@for n in $(FUZZ_NAMES); do $(BUILD)/fuzz-replay-$$n tests/fuzz/corpus/$$n tests/fuzz/crashes/$$n || exit 1; done

# FUZZ_SECONDS per target (default 60), FUZZ_JOBS targets at a time (default 1);
# new crashes land in tests/fuzz/crashes/NAME/.
fuzz: deps
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang SANITIZER=fuzzer OPT="-O1 -g" fuzzers
	scripts/fuzz.sh build-fuzz $(FUZZ_NAMES)

it: $(PROGRAMS)
	VF_BUILD_DIR=$(BUILD) node --test --test-concurrency=1 tests/it/

e2e: $(PROGRAMS)
	VF_BUILD_DIR=$(BUILD) node --test --test-concurrency=1 tests/e2e/

test: deps all
	$(MAKE) --no-print-directory unit it e2e

asan:
	$(MAKE) --no-print-directory BUILD=build-asan SANITIZER=address OPT="-O1 -g" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $(MAKE) --no-print-directory BUILD=build-asan SANITIZER=address OPT="-O1 -g" unit it

up: deps all
	scripts/stack.sh up

down:
	scripts/stack.sh down

demo: deps all
	scripts/demo.sh

bench: deps all $(BUILD)/vf-bench-render
	VF_BUILD_DIR=$(BUILD) scripts/bench.sh

# Not part of `make test`: it takes about half an hour on two cores.
scale: deps all
	VF_BUILD_DIR=$(BUILD) scripts/scale.sh

install: all
	install -d $(DESTDIR)/usr/local/bin
	install -m 755 $(PROGRAMS) $(DESTDIR)/usr/local/bin/

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/fuzz_%.d) $(BUILD)/app/api/main.d $(BUILD)/app/sse/main.d \
         $(BUILD)/app/worker/main.d $(BUILD)/app/cli/vfctl.d $(BUILD)/tests/bench/render_bench.d
