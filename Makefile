.PHONY: demo test docs generate
demo:
	scripts/demo.sh
test:
	scripts/test.sh
docs:
	.venv/bin/python -m exporter.docs faults > docs/faults.md
	.venv/bin/python -m exporter.docs runbooks > docs/runbooks.md
generate:
	.venv/bin/python tools/generate.py
