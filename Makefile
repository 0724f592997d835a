# The README's two commands: `make demo` and `make test`. Both set everything up
# on a fresh machine (a virtual environment in .venv with the project installed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo protos bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) scripts/demo.py

# Regenerate the committed protobuf stubs (a test checks they are fresh).
protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos \
		--grpc_python_out=protos protos/llmesh/v1/*.proto

bench: $(STAMP)
	$(PY) bench/inventory.py

clean:
	rm -rf $(VENV) build *.egg-info
