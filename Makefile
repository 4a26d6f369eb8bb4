# The README's commands. Everything installs into .venv; nothing global but the
# Debian packages of real servers the tests start (Prometheus, Gitolite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,html]'
	touch $@

demo: $(BIN)/.installed  ## the local demo: a protected bare repository and real pushes
	$(BIN)/policy demo

test: $(BIN)/.installed  ## the bundled policy pack's own tests, then the test suite (real git, real servers: Prometheus and Gitolite via apt, MLflow in its own venv; Chromium via apt for the decision page)
	$(BIN)/policy test policies/
	scripts/ensure-prometheus
	scripts/ensure-gitolite
	PYTHON=$(PYTHON) scripts/ensure-mlflow >/dev/null
	scripts/ensure-chromium
	$(BIN)/pytest -q

lint: $(BIN)/.installed  ## ruff and mypy --strict
	$(BIN)/ruff check engine tests bench hooks/pre-receive
	$(BIN)/mypy

bench: $(BIN)/.installed  ## benchmarks (not tests): push-hook medians and ratios; policy validate worst cases; many refs, huge history, many rules x paths, policy replay of 80,000 commits; content rules on a 10,000-commit push; pygit2 vs the git CLI
	$(BIN)/python bench/push_bench.py
	$(BIN)/python bench/validate_bench.py
	$(BIN)/python bench/scale_bench.py --runs 3
	$(BIN)/python bench/content_bench.py --runs 3
	$(BIN)/python bench/pygit2_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
