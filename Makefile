# The README's commands. Both work on a fresh Debian machine with Python 3.11, as root (or with
# sudo): they install the Debian packages they need, create .venv and install the package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: what the proxy needs to run, and what the test suite needs on top.
RUN_PACKAGES := xmlsec1 openssl
TEST_PACKAGES := chromium fonts-dejavu-core slapd ldap-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup test-setup debian-packages bench lint format check-config clean

## make run: set everything up and start the embedded demo (Ctrl-C stops it)
run: setup
	$(BIN)/satosa-efos demo

## make test: set everything up and run the whole test suite
test: test-setup
	$(BIN)/ruff check plugins tests
	$(BIN)/ruff format --check plugins tests
	$(BIN)/satosa-efos check-config conf
	$(BIN)/satosa-efos demo --prepare-only
	$(BIN)/satosa-efos check-config conf/demo
	$(BIN)/pytest

setup: $(VENV)/.installed conf/keys/state-encryption.key
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(RUN_PACKAGES)"

test-setup: setup
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(TEST_PACKAGES)"

# Installs only what is missing; `apt-get update` first, as a fresh machine has no lists.
debian-packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Development keys for the production-shaped conf/ (gitignored; production keys come from Ansible).
conf/keys/state-encryption.key: | $(VENV)/.installed
	$(BIN)/satosa-efos keys conf

bench: test-setup
	$(BIN)/python tests/bench/bench_routing.py
	$(BIN)/python tests/bench/bench_efos.py
	$(BIN)/python tests/bench/bench_hsa.py

lint:
	$(BIN)/ruff check plugins tests
	$(BIN)/ruff format --check plugins tests

format:
	$(BIN)/ruff format plugins tests
	$(BIN)/ruff check --fix plugins tests

check-config: setup
	$(BIN)/satosa-efos check-config conf

clean:
	rm -rf $(VENV) var build *.egg-info
