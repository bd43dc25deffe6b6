.PHONY: demo test docs generate
demo:
	scripts/demo.sh
test:
	scripts/test.sh
docs:
	.venv/bin/python -m exporter.catalog.faults > docs/faults.md
generate:
	.venv/bin/python tools/generate.py
