# Tessera: build the Embedded Swift kernel, a GRUB ISO, run it under QEMU,
# and test it. `make run` and `make test` install what they need.
#
#   make run   [SMP=4] [MEM=512M] [NUMA=2] [CMDLINE="..."]
#   make test  hosted unit tests, then the QEMU boot scenarios
#   make debug like run, but QEMU waits for gdb
#   make bench [ONLY=ipc,...] every benchmark under QEMU (-icount shift=0 and
#              plain TCG), boot time from 1 to 128 vCPUs: Tests/Bench/RESULTS.md,
#              results.json, plots/ and the README's table (Tools/bench.sh)
#   make fuzz  each Core parser's libFuzzer target for FUZZ_SECONDS (300),
#              new inputs merged into Tests/Fuzz/Corpus (Tools/fuzz.sh), then
#              the long boot fuzz runs: 10^6 system calls, 1 MiB of shell
#              input (Tools/fuzz-boot.sh)

# Both partitions by default: the service instance on CPU 0, the LWK
# instance on CPUs 1-3 with memory of their nodes (see `parts`).
SMP ?= 4
MEM ?= 512M
NUMA ?= 2
CMDLINE ?=
QEMU_EXTRA ?=

BUILD := build
SWIFT_BIN := $(dir $(shell command -v swiftc 2>/dev/null || echo /opt/swift/usr/bin/swiftc))
SWIFTC := $(SWIFT_BIN)swiftc
CLANG := $(SWIFT_BIN)clang
LLD := $(SWIFT_BIN)ld.lld
EMBEDDED_LIB := $(SWIFT_BIN)../lib/swift/embedded/x86_64-unknown-none-elf

KERNEL_SWIFT := $(shell find Kernel -name '*.swift' | sort)
BOOT_ASM := $(wildcard Boot/*.S)
BOOT_C := $(wildcard Boot/*.c)
BOOT_HEADERS := $(wildcard Boot/include/*)

KERNEL := $(BUILD)/tessera.elf
ISO := $(BUILD)/tessera.iso

# User programs: each Userland/Programs/NAME becomes build/user/NAME.elf and
# a boot module named NAME.
USER_PROGRAMS := $(notdir $(wildcard Userland/Programs/*))
USER_ELFS := $(patsubst %,$(BUILD)/user/%.elf,$(USER_PROGRAMS))
# The DTU endpoint fast paths (send, fetch, ack, sleep) run in user programs;
# only the kernel configures endpoints (ReceiveEndpointControl).
USER_LIBRARY_SWIFT := $(wildcard Userland/Library/*.swift) Kernel/Core/Memory/KernelHeap.swift \
  Kernel/Core/UserABI/SystemCall.swift Kernel/Core/Support/BenchmarkFigure.swift \
  $(filter-out %/ReceiveEndpointControl.swift,$(wildcard Kernel/Core/Endpoints/*.swift))

SWIFT_FLAGS := -target x86_64-unknown-none-elf -enable-experimental-feature Embedded \
  -wmo -parse-as-library -O -enforce-exclusivity=unchecked -module-name Tessera \
  -Xcc -mno-red-zone -Xfrontend -disable-stack-protector \
  -I Boot/include
KERNEL_TARGET_FEATURES := +cmov,+cx16,+cx8,+fxsr,-mmx,-sse,-sse2,-x87
CLANG_FLAGS := -target x86_64-unknown-none-elf -mcmodel=small -mno-red-zone -mgeneral-regs-only \
  -ffreestanding -fno-builtin -fno-stack-protector -fno-pic -fno-omit-frame-pointer -O2 -g -Wall

.PHONY: all kernel user iso run debug test hosted-test scenarios bench fuzz deps clean format

all: kernel user

kernel: $(KERNEL)

# Swift cannot be told to avoid the red zone, and interrupts arrive on the
# kernel stack: emit IR, mark every function `noredzone`, then compile it.
# The same pass takes the vector registers (MMX, SSE, x87) away from the
# kernel's code, so entering the kernel need not save the user's: the
# switch saves them, only when another user thread will run (Scheduler).
$(BUILD)/kernel.ll: $(KERNEL_SWIFT) $(BOOT_HEADERS) Makefile | $(BUILD)
	$(SWIFTC) $(SWIFT_FLAGS) -emit-ir $(KERNEL_SWIFT) -o $@

$(BUILD)/kernel-noredzone.ll: $(BUILD)/kernel.ll
	sed -E -e 's/^(attributes #[0-9]+ = \{ )/\1noredzone /' \
	  -e 's/"target-features"="[^"]*"/"target-features"="$(KERNEL_TARGET_FEATURES)"/' $< > $@

$(BUILD)/kernel.o: $(BUILD)/kernel-noredzone.ll
	$(CLANG) $(CLANG_FLAGS) -Wno-override-module -c $< -o $@

$(BUILD)/%.o: Boot/%.S $(BOOT_HEADERS) | $(BUILD)
	$(CLANG) $(CLANG_FLAGS) -c $< -o $@

$(BUILD)/%.o: Boot/%.c $(BOOT_HEADERS) | $(BUILD)
	$(CLANG) $(CLANG_FLAGS) -I Boot/include -c $< -o $@

BOOT_OBJECTS := $(patsubst Boot/%.S,$(BUILD)/%.o,$(BOOT_ASM)) $(patsubst Boot/%.c,$(BUILD)/%.o,$(BOOT_C))

$(KERNEL): $(BOOT_OBJECTS) $(BUILD)/kernel.o linker.ld
	$(LLD) -T linker.ld -nostdlib -z max-page-size=4096 --gc-sections \
	  $(BOOT_OBJECTS) $(BUILD)/kernel.o $(EMBEDDED_LIB)/libswiftUnicodeDataTables.a -o $@
	@echo "kernel: $@ ($$(stat -c %s $@) bytes)"

$(ISO): $(KERNEL) $(USER_ELFS) Tools/mkiso.sh $(BUILD)/cmdline.txt
	Tools/mkiso.sh $@ $(KERNEL) "$(CMDLINE)" $(USER_ELFS)

# User code runs in ring 3 at 1 TiB: large code model, no red-zone concern
# (interrupts from ring 3 switch stacks).
USER_SWIFT_FLAGS := -target x86_64-unknown-none-elf -enable-experimental-feature Embedded \
  -wmo -parse-as-library -Osize -Xfrontend -disable-stack-protector -I Userland/Library/include
USER_CLANG_FLAGS := -target x86_64-unknown-none-elf -mcmodel=large -ffreestanding -fno-builtin \
  -fno-stack-protector -fno-pic -O2 -Wall

# Every Swift file of a program's folder (secondary expansion: `$$*` is the
# program's name), so a change to any of them rebuilds it.
.SECONDEXPANSION:
$(BUILD)/user/%.ll: $$(wildcard Userland/Programs/$$*/*.swift) $(USER_LIBRARY_SWIFT) Userland/Library/include/usersys.h Makefile
	@mkdir -p $(BUILD)/user
	$(SWIFTC) $(USER_SWIFT_FLAGS) -module-name $* -emit-ir $(wildcard Userland/Programs/$*/*.swift) $(USER_LIBRARY_SWIFT) -o $@

$(BUILD)/user/%.o: $(BUILD)/user/%.ll
	$(CLANG) $(USER_CLANG_FLAGS) -Wno-override-module -c $< -o $@

$(BUILD)/user/start.o: Userland/Library/start.S
	@mkdir -p $(BUILD)/user
	$(CLANG) $(USER_CLANG_FLAGS) -c $< -o $@

$(BUILD)/user/libc.o: Boot/libc.c
	@mkdir -p $(BUILD)/user
	$(CLANG) $(USER_CLANG_FLAGS) -c $< -o $@

$(BUILD)/user/%.elf: $(BUILD)/user/%.o $(BUILD)/user/start.o $(BUILD)/user/libc.o Userland/user.ld
	$(LLD) -T Userland/user.ld -nostdlib -static -z max-page-size=4096 --gc-sections \
	  $(BUILD)/user/start.o $(BUILD)/user/$*.o $(BUILD)/user/libc.o \
	  $(EMBEDDED_LIB)/libswiftUnicodeDataTables.a -o $@

user: $(USER_ELFS)

# Rebuild the ISO when the command line changes.
$(BUILD)/cmdline.txt: FORCE | $(BUILD)
	@echo '$(CMDLINE)' | cmp -s - $@ || echo '$(CMDLINE)' > $@
FORCE:

iso: deps $(ISO)

run: deps $(ISO)
	@echo "Tessera under QEMU (SMP=$(SMP) MEM=$(MEM) NUMA=$(NUMA)); quit with Ctrl-A X"
	QEMU_SERIAL=mon:stdio Tools/qemu.sh $(ISO) $(SMP) $(MEM) $(NUMA) $(QEMU_EXTRA)

debug: deps $(ISO)
	@echo "QEMU waits for gdb. In another terminal:"
	@echo "  gdb $(KERNEL) -ex 'target remote :1234'"
	Tools/qemu.sh $(ISO) $(SMP) $(MEM) $(NUMA) -s -S $(QEMU_EXTRA)

SCENARIO_RUNNER := .build/debug/tessera-scenario

$(SCENARIO_RUNNER): Package.swift $(shell find Tools/Scenario -name '*.swift')
	swift build --product tessera-scenario

# make bench's collector; bench-short.scenario runs its check in make test.
BENCH_COLLECTOR := .build/debug/tessera-bench-collect

$(BENCH_COLLECTOR): Package.swift $(shell find Tools/BenchResults Tools/BenchCollect -name '*.swift')
	swift build --product tessera-bench-collect

test: deps $(KERNEL) $(USER_ELFS) $(SCENARIO_RUNNER) $(BENCH_COLLECTOR)
	Tools/test.sh $(SCENARIO_RUNNER) $(KERNEL)

hosted-test:
	swift test

scenarios: deps $(KERNEL) $(USER_ELFS) $(SCENARIO_RUNNER)
	$(SCENARIO_RUNNER) run --kernel $(KERNEL)

bench: deps $(KERNEL) $(USER_ELFS) $(SCENARIO_RUNNER) $(BENCH_COLLECTOR)
	@Tools/install-deps.sh bench
	Tools/bench.sh $(SCENARIO_RUNNER) $(KERNEL) $(BENCH_COLLECTOR)

FUZZ_SECONDS ?= 300

fuzz: deps
	Tools/fuzz.sh long $(FUZZ_SECONDS)
	Tools/fuzz-boot.sh

deps:
	@Tools/install-deps.sh

format:
	swift format -i -r Kernel Tools Tests Userland Package.swift

$(BUILD):
	mkdir -p $@

clean:
	rm -rf $(BUILD)
