.PHONY: demo test docs
demo:
	scripts/demo.sh
test:
	scripts/test.sh
docs:
	.venv/bin/python -m exporter.catalog.faults > docs/faults.md
