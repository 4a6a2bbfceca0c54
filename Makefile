# The README's commands. Both work on a fresh Debian machine with Python 3.11, as root (or with
# sudo): they install the Debian packages they need, create .venv and install the package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: what the proxy needs to run, and what the test suite needs on top.
RUN_PACKAGES := xmlsec1 openssl
TEST_PACKAGES := chromium fonts-dejavu-core slapd ldap-utils redis-server
# tests/ansible/: nginx -t and nginx in front of the deployed proxy, systemd-analyze verify of the
# rendered units, logrotate --debug, and the system Python's venv (the role's default interpreter).
ANSIBLE_TEST_PACKAGES := nginx logrotate systemd python3-venv
DEV_KEYS := conf/keys/state-encryption.key conf/keys/oidc-signing.key conf/keys/oidc-sub-salt.key \
	conf/keys/saml-nameid.key
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
# Again on the xmlsec1 subprocess crypto fallback (docs/performance.md), without the browser tests.
	SATOSA_EFOS_CRYPTO_BACKEND=xmlsec1 $(BIN)/pytest -q tests/unit tests/flows

setup: $(VENV)/.installed $(DEV_KEYS)
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(RUN_PACKAGES)"

test-setup: setup $(VENV)/.installed-ansible
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(TEST_PACKAGES) $(ANSIBLE_TEST_PACKAGES)"

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

# The deployment's tools (ansible-core, ansible-lint, yamllint: setup.cfg [ansible]), for the tests.
$(VENV)/.installed-ansible: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test,ansible]'
	touch $@

# Development keys for the production-shaped conf/ (gitignored; production keys come from Ansible).
# `satosa-efos keys` never overwrites a key; it makes whichever of DEV_KEYS is missing.
$(DEV_KEYS) &: | $(VENV)/.installed
	$(BIN)/satosa-efos keys conf

bench: test-setup
	$(BIN)/python tests/bench/bench_routing.py
	$(BIN)/python tests/bench/bench_efos.py
	$(BIN)/python tests/bench/bench_hsa.py
	$(BIN)/python tests/bench/bench_saml.py --json var/bench-saml.json
	$(BIN)/python tests/bench/bench_scaling.py --json var/bench-scaling.json

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
