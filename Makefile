.PHONY: demo test docs generate bench
PYTHON ?= $(shell [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)
# Side-by-side benchmark (issue 14); quick by default. The issue's table:
#   make bench BENCH_ARGS='--sizes 1000,10000,50000 --throughput-targets 2000 --repeat 2 --workers 1,2'
BENCH_ARGS ?=
demo:
	scripts/demo.sh
test:
	scripts/test.sh
docs:
	.venv/bin/python -m exporter.docs faults > docs/faults.md
	.venv/bin/python -m exporter.docs runbooks > docs/runbooks.md
generate:
	.venv/bin/python tools/generate.py
bench:
	$(PYTHON) bench/run.py $(BENCH_ARGS)
