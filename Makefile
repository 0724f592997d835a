# The README's two commands: `make demo` and `make test`. Both set everything up
# on a fresh machine (a virtual environment in .venv with the project installed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo protos bench clean system-packages bench-packages

install: $(STAMP)

# llama.cpp (through llama-cpp-python) is built from source once per machine into a
# wheelhouse. Portable flags, and no AMX: on VMs whose kernel does not enable AMX tile
# state, llama.cpp's AMX kernels fault on the first quantized inference.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
WHEELHOUSE := $(HOME)/.cache/llmesh/wheels/$(shell echo '$(LLAMA_CPP_VERSION) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	ls $(WHEELHOUSE)/llama_cpp_python-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
		$(PY) -m pip wheel -q --no-deps --no-cache-dir -w $(WHEELHOUSE) 'llama-cpp-python==$(LLAMA_CPP_VERSION)'
	$(PY) -m pip install -q $(WHEELHOUSE)/llama_cpp_python-*.whl
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian packages tests use (chromium: the dashboard's browser tests). Installed where we
# run as root with apt-get (as CI does) and the binary is missing; elsewhere those tests skip.
SYSTEM_PACKAGES += chromium
# docker-registry: a real OCI registry for the hub pull/push tests.
SYSTEM_PACKAGES += docker-registry
# systemd: its systemd-analyze checks the units `meshctl agent|coordinator install` writes.
SYSTEM_PACKAGES += systemd

system-packages:
	@sh scripts/system-packages.sh "the tests that need it will skip" $(SYSTEM_PACKAGES)

# What bench/transfer.py compares pulls with: scp and rsync over a real sshd on loopback (not
# needed by `make test`). Installed as above, where we are root with apt-get; else the bench says
# why it skips them. (sshd lives in /usr/sbin: looked up there as well as on PATH.)
BENCH_PACKAGES := openssh-server:sshd rsync:rsync

bench-packages:
	@sh scripts/system-packages.sh "the bench will skip what needs it" $(BENCH_PACKAGES)

test: $(STAMP) system-packages
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
