# Cunban: two commands on a fresh Debian/Ubuntu machine.
#   make demo   install what is missing, start a broker, the hub and a scripted station
#   make test   install the same way, lint, run the whole suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3 python3-venv python3-dev mosquitto mosquitto-clients libzbar0 \
	fonts-noto-cjk fontconfig xvfb xauth libgl1 libegl1 libgl1-mesa-dri libmtdev1 \
	libsdl2-2.0-0 chromium espeak-ng
DEMO_ARGS ?=

.PHONY: setup system venv demo test lint clean

setup: system venv

# System packages, only those missing (root, or through sudo).
system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@py=$$(command -v python3.11 || command -v python3); \
	$$py -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"' && \
	$$py -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

lint: setup
	$(VENV)/bin/ruff check .

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -p no:cacheprovider

demo: setup
	$(PY) -m cunban.demo $(DEMO_ARGS)

clean:
	rm -rf var/demo
