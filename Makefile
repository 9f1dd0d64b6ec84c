# chatfunnel: `make demo` to see it work, `make test` to prove it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-quick lint docs bench clean venv

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing chatfunnel with dev extras"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev,dagster]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@echo "==> chatfunnel demo: emulators -> DuckDB -> reports"
	@$(BIN)/chatfunnel demo

test: $(STAMP)
	@echo "==> running the test suite (emulators over HTTP, DuckDB, PostgreSQL on 127.0.0.1:5432)"
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not serial" --durations=25
	@echo "==> the timing-sensitive tests (readers beside a run, runs stuck on a silent server, the webhook under load), one at a time"
	@$(BIN)/python -m pytest -m serial --durations=10

test-quick: $(STAMP)
	@echo "==> the quick loop: everything but the slow scenarios and the timing-sensitive tests"
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow and not serial"

lint: $(STAMP)
	@echo "==> ruff and mypy over sources, pipelines, transforms, emulators"
	@$(BIN)/ruff check sources pipelines transforms emulators tests bench deploy
	@$(BIN)/mypy
	@$(BIN)/sqlfluff lint transforms

docs: $(STAMP)
	@$(BIN)/python -m pipelines.reference

bench: $(STAMP)
	@echo "==> benchmark: $(or $(BENCH_ARGS),the default set: latency ratelimit cpu accounts webhook sweep (~9 min); BENCH_ARGS=\"scale --formats\" for 50,000 people)"
	@$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .chatfunnel .pytest_cache *.egg-info
