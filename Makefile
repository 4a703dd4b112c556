# Set-up, the two README commands, and the generated stubs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/keel/v1/*.proto)
NODE_DIR := examples/node

.PHONY: install demo test unit fuzz proto proto-check proto-tools lint bench bench-compare soak clean node-deps \
	conformance browser-deps screenshot

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(PY) examples/demo.py

# The suite in TEST_WORKERS processes, each taking a whole file at a time (its
# module fixtures stay in one process). Most tests wait on real processes and
# timers, so two processes on two cores take about 0.6 of the serial time.
TEST_WORKERS ?= 2

test: install proto-check lint node-deps browser-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

# The core in-process: engine, SDK journal, codec, API error table, and the
# store contract on the in-memory store. No PostgreSQL, no npm, no processes.
unit: install
	$(PY) -m pytest -q tests/unit tests/contract -k "not sqlite and not postgres and not pg_"

# The Node.js example (tests/e2e/test_node.py): reinstalled when package-lock.json
# is newer than what npm last installed.
node-deps: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

# The console's browser test (tests/e2e/test_console_browser.py): Debian's
# chromium (apt-get, once) and playwright-core from tests/browser's lockfile.
CHROMIUM := /usr/bin/chromium
BROWSER_DIR := tests/browser

browser-deps: $(CHROMIUM) $(BROWSER_DIR)/node_modules/.package-lock.json

$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

# docs/console.png, the README's picture of a timeline, from a real run.
screenshot: install browser-deps
	KEEL_UPDATE_SCREENSHOT=1 $(PY) -m pytest -q tests/e2e/test_console_browser.py

# The fuzzer of tests/fuzz, longer than in `make test` (which runs its `ci`
# profile): KEEL_FUZZ_EXAMPLES sets the examples per test (default 5000).
fuzz: install
	KEEL_FUZZ_PROFILE=long $(PY) -m pytest -q tests/fuzz

# Regenerate the Python stubs from protos/ with the pinned grpcio-tools.
proto: install
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=protos --pyi_out=protos \
		--grpc_python_out=protos $(PROTOS)

# The committed stubs must be exactly what `make proto` produces; `buf lint`
# passes (protos/buf.yaml); and the protos generate for other languages with
# Debian's stock protoc and plugins (installed when missing), so a break for
# Go, Java, C#, Ruby, C++ or PHP shows here first.
proto-check: install proto-tools
	@tmp=$$(mktemp -d) && \
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=$$tmp --pyi_out=$$tmp \
		--grpc_python_out=$$tmp $(PROTOS) && \
	for f in $$(cd $$tmp && find . -name '*.py' -o -name '*.pyi'); do \
		cmp -s $$tmp/$$f protos/$$f || { echo "stale generated stub: protos/$$f (run make proto)"; exit 1; }; \
	done; rm -rf $$tmp; echo "generated stubs are up to date"
	cd protos && $(abspath $(VENV))/bin/buf lint && echo "buf lint: clean"
	@tmp=$$(mktemp -d) && mkdir -p $$tmp/go $$tmp/java $$tmp/csharp $$tmp/ruby $$tmp/cpp $$tmp/php && \
	protoc -Iprotos $(PROTOS) \
		--go_out=paths=source_relative:$$tmp/go --go-grpc_out=paths=source_relative:$$tmp/go \
		--java_out=$$tmp/java --plugin=protoc-gen-grpc-java=$$(command -v grpc_java_plugin) \
		--grpc-java_out=$$tmp/java \
		--csharp_out=$$tmp/csharp \
		--ruby_out=$$tmp/ruby --plugin=protoc-gen-grpc-ruby=$$(command -v grpc_ruby_plugin) \
		--grpc-ruby_out=$$tmp/ruby \
		--cpp_out=$$tmp/cpp --plugin=protoc-gen-grpc-cpp=$$(command -v grpc_cpp_plugin) \
		--grpc-cpp_out=$$tmp/cpp \
		--php_out=$$tmp/php \
		|| { rm -rf $$tmp; echo "the protos do not generate for every language (above)"; exit 1; }; \
	echo "generated for Go, Java, C#, Ruby, C++ and PHP: $$(find $$tmp -type f | wc -l) files"; rm -rf $$tmp

# Debian's stock protoc and gRPC plugins, for proto-check (as root, or sudo).
PROTO_TOOLS := protoc protoc-gen-go protoc-gen-go-grpc grpc_java_plugin grpc_ruby_plugin grpc_cpp_plugin
PROTO_PACKAGES := protobuf-compiler protobuf-compiler-grpc golang-goprotobuf-dev protoc-gen-go-grpc \
	protobuf-compiler-grpc-java-plugin
proto-tools:
	@missing=""; for t in $(PROTO_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (Debian: $(PROTO_PACKAGES))"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(PROTO_PACKAGES); \
	fi

# The conformance kit (docs/conformance.md) against any worker command;
# "{coordinator}" in it is replaced by the coordinator's address. For a worker
# that serves only steps, add SERVES=steps; STORE=postgresql://... for PostgreSQL.
WORKER ?= $(PY) -m worker run conformance.python_worker --coordinator {coordinator}
SERVES ?= workflows
STORE ?= sqlite
conformance: install
	$(PY) -m conformance --worker "$(WORKER)" --serves $(SERVES) --store "$(STORE)"

lint: install
	$(PY) -m ruff check coordinator worker tests examples bench conformance
	$(PY) -m mypy coordinator worker
	$(VENV)/bin/lint-imports

# Our workloads on SQLite and PostgreSQL, real processes (bench/README.md).
bench: install
	$(PY) bench/run.py

# Ten minutes of open-loop load at 70 % of the measured maximum on PostgreSQL:
# latency, RSS and CPU per minute (bench/README.md). Not part of `make bench`.
soak: install
	$(PY) bench/run.py --only soak --store postgres

# The same workloads beside the peer (DBOS Transact, scripts in BENCH_PEER_DIR,
# default ../shared/bench-peer), run in a virtual environment of its own: the
# peer is never a dependency of the project.
PEER_VENV := bench/.peer-venv
DBOS_VERSION := 3.4.0
PEER_STAMP := $(PEER_VENV)/.installed-dbos-$(DBOS_VERSION)

$(PEER_STAMP):
	rm -rf $(PEER_VENV)
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet dbos==$(DBOS_VERSION)
	touch $@

bench-compare: install $(PEER_STAMP)
	$(PY) bench/compare.py --peer-python $(PEER_VENV)/bin/python

clean:
	rm -rf $(VENV) .pytest_cache
