# Flotilla — everything a fresh machine needs is set up by these targets.
#   make up     start the platform (Postgres, Kafka, gateway, services) in the background
#   make down   stop everything `make up` started
#   make test   set up, start a separate test stack, run every test, stop the stack
#   make lint   ruff, mypy (strict on libs/), import-linter, the per-service lists, the event
#               and HTTP contracts

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
DEVSTACK := $(PY) -m devstack
PYTEST_ARGS ?=
OBS ?=
# Every external program a target runs is in one catalogue (libs/devstack/src/devstack/toolchain):
# `make doctor` reports them, and each target first installs what it needs with `ensure --for`.
# Standard library only, so it runs before the virtualenv exists. Fetched and built tools are
# cached outside the clone (${FLOTILLA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/flotilla}), by version.
TOOLCHAIN := PYTHONPATH=$(CURDIR)/libs/devstack/src python3 -m devstack.toolchain
tool_path = $$($(TOOLCHAIN) path $(1))

.PHONY: help doctor tools setup up down reset status test lint format bench contracts obs-tools dashboards

help:
	@echo "make up      start the platform on 127.0.0.1 (gateway :8080) and print its URLs"
	@echo "make up OBS=1  the same plus Prometheus (alert rules loaded) and Jaeger (traces)"
	@echo "make down    stop everything make up started"
	@echo "make reset   stop the local platform and delete its data (a fresh start)"
	@echo "make status  show what is running"
	@echo "make up WITHOUT=orders  the platform without one service (its routes answer 502)"
	@echo "make restart SERVICE=orders  restart one service of the running stack (waits for /readyz)"
	@echo "make dev SERVICE=orders  run one service from source with --reload in its place (Ctrl-C stops)"
	@echo "make new-service NAME=reviews  a new service: route, event, subscription, migration, tests"
	@echo "make test-unit  the fast tier: domain and handler tests, nothing started, no network"
	@echo "make test    run every test against a separate test stack (sets everything up)"
	@echo "make doctor  every external tool: needed by, from where, present, version"
	@echo "make tools   install every tool (or TOOLS=\"helm promtool\", or FOR=<target>)"
	@echo "make lint    ruff, mypy, import-linter, contracts (stale or breaking: oasdiff)"
	@echo "make contracts  regenerate the event schemas, asyncapi.yaml, the topic file's copy, openapi.json, the clients"
	@echo "make bench  benchmarks, each printed as a ratio against a baseline in the same run"
	@echo "make demo   one order of each outcome through the running stack, and its journey"
	@echo "make chaos  the long fault tests (tests/chaos) against a fresh test stack"
	@echo "make load   shop traffic through the running stack (RATE=5 DURATION=30), live and summarised"

doctor:
	@$(TOOLCHAIN) doctor

tools:
	@$(TOOLCHAIN) ensure $(if $(TOOLS),$(TOOLS),--for $(or $(FOR),test))

# The virtualenv, from the lock file only (--frozen fails if uv.lock is out of date).
$(VENV)/.synced: uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	@$(TOOLCHAIN) ensure --for setup
	@PYTHONPATH=$(CURDIR)/libs/devstack/src python3 -m devstack.toolchain.step \
	  --what "creating .venv from uv.lock" --estimate "about 1 min the first time, seconds after" \
	  -- $(call tool_path,uv) sync --frozen --all-packages
	touch $@

setup: $(VENV)/.synced

# ---- Observability: Prometheus (Debian's package; promtool tests the alert rules) and Jaeger v2
# (built from its Go module into the tool cache; versions pinned in devstack.toolchain.catalog).
obs-tools:
	@$(TOOLCHAIN) ensure --for obs

# The committed Grafana dashboards, from libs/devstack/src/devstack/dashboards/ (tests/observability
# fails while they are stale).
dashboards: setup
	$(PY) -m devstack.dashboards generate

# `make up WITHOUT=orders[,payments]`: the stack without those services (devstack reads it).
up: export FLOTILLA_WITHOUT = $(WITHOUT)
up: setup $(if $(filter 1 yes true,$(OBS)),obs-tools)
	@$(TOOLCHAIN) ensure --for up
	FLOTILLA_OBS=$(OBS) $(DEVSTACK) up --profile local

down:
	@if [ -x $(PY) ]; then $(DEVSTACK) down --profile local; else echo "nothing to stop"; fi

# Local data (Postgres, Kafka, mail, secrets) is kept across `make down`; this deletes it.
reset:
	@if [ -x $(PY) ]; then $(DEVSTACK) reset --profile local; else echo "nothing to reset"; fi

status:
	$(DEVSTACK) status --profile local

# ---- The local loop for one service of the running `make up` stack (devstack.devloop).
# `make restart SERVICE=orders`: stop it and start it again from the current code, waiting for
# its /readyz. `make dev SERVICE=orders`: run it from source in the foreground with uvicorn's
# --reload, on its port with the stack's environment and secrets (the gateway routes to it);
# Ctrl-C stops it, `make restart SERVICE=orders` brings the stack's copy back.
.PHONY: restart dev test-unit
SERVICE ?=
restart: setup
	@[ -n "$(SERVICE)" ] || { echo "error: name the service: make restart SERVICE=orders" >&2; exit 2; }
	$(DEVSTACK) restart $(SERVICE) --profile local

dev: setup
	@[ -n "$(SERVICE)" ] || { echo "error: name the service: make dev SERVICE=orders" >&2; exit 2; }
	$(DEVSTACK) dev $(SERVICE) --profile local

# `make new-service NAME=reviews [AGGREGATE=review]`: a new service that works at once -- one public
# route, one event published through the outbox, one subscription, a migration, unit and stack
# tests, its manifest -- and everything derived from it regenerated (python -m devstack.scaffold;
# docs/adding-a-service.md). NAME must be given on the command line (a NAME in the environment
# is not taken for one).
.PHONY: new-service
new-service: setup
	@[ "$(origin NAME)" = "command line" ] && [ -n "$(NAME)" ] || { echo "error: name the service: make new-service NAME=reviews" >&2; exit 2; }
	@$(TOOLCHAIN) ensure --for new-service
	$(PY) -m devstack.scaffold new "$(NAME)" $(if $(AGGREGATE),--aggregate "$(AGGREGATE)") \
	  --uv $(call tool_path,uv) --helm $(call tool_path,helm)

# The fast tier: tests marked `unit` (domain rules, handlers on servicekit.testing's doubles),
# nothing started, any socket refused (conftest.py). `make test` runs them too.
test-unit: setup
	$(PY) -m pytest -m unit -p no:cacheprovider -q $(PYTEST_ARGS)

# The test stack uses its own ports and folder (.run/test), so it never collides with `make up`.
# It is stopped whatever the tests do; the exit code is pytest's.
# The test stack runs Prometheus and Jaeger too: tests/observability reads them.
test: setup obs-tools deploy-check
	@$(TOOLCHAIN) ensure --for test
	$(DEVSTACK) down --profile test >/dev/null 2>&1 || true
	@set +e; \
	FLOTILLA_OBS=1 $(DEVSTACK) up --profile test; up_rc=$$?; \
	if [ $$up_rc -eq 0 ]; then \
	  FLOTILLA_PROFILE=test $(PY) -m pytest --ignore=tests/deploy $(PYTEST_ARGS); rc=$$?; \
	else rc=$$up_rc; fi; \
	$(DEVSTACK) reset --profile test; down_rc=$$?; \
	if [ $$rc -eq 0 ] && [ $$down_rc -ne 0 ]; then rc=$$down_rc; fi; \
	exit $$rc

# The services' OpenAPI documents (services/<name>/openapi.json) and generated clients: fresh,
# every operation with its own id, and no breaking change against the merge base with main (HEAD
# on main; OPENAPI_BASE=<rev> to choose), checked by oasdiff (pinned in devstack.toolchain.catalog,
# built into the tool cache).
OPENAPI_BASE ?=
lint: setup
	@$(TOOLCHAIN) ensure --for lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m devstack.manifests check
	$(PY) -m contracts check
	$(PY) -m devstack.openapi check
	$(PY) -m devstack.openapi breaking --oasdiff $(call tool_path,oasdiff) $(if $(OPENAPI_BASE),--base $(OPENAPI_BASE))
	$(PY) -m devstack.asyncapi_tools validate

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The committed contract files (libs/contracts/src/contracts/schemas/, asyncapi.yaml, and
# topics.yaml: deploy/topics.yaml's copy that ships in the package), from the event models and
# deploy/topics.yaml, each service's services/<name>/openapi.json from its declared API
# (<name>.main.API), and its typed client libs/clients/src/clients/<name>/ from that document
# (openapi-python-client, a dev dependency); `make lint` fails when they are stale.
contracts: setup
	$(PY) -m contracts generate
	$(PY) -m devstack.openapi generate

# Benchmarks print ratios against a baseline measured in the same run, on their own stack.
# The bench dependency group (pyproject.toml: the ecosystem's HTTP stack that bench/http_stack.py
# compares ours with) is added to .venv here only; `make setup` leaves it out again, and this
# stamp, older than .venv/.synced then, brings it back at the next `make bench`.
$(VENV)/.synced-bench: $(VENV)/.synced
	@PYTHONPATH=$(CURDIR)/libs/devstack/src python3 -m devstack.toolchain.step \
	  --what "adding the bench dependency group to .venv" --estimate "seconds" \
	  -- $(call tool_path,uv) sync --frozen --all-packages --group bench
	touch $@

bench: setup $(VENV)/.synced-bench
	@$(TOOLCHAIN) ensure --for bench
	$(DEVSTACK) up --profile bench
	@set +e; $(PY) bench/events.py && $(PY) bench/outbox_table.py && $(PY) bench/statements.py && $(PY) bench/http_stack.py --pgbench $(call tool_path,pgbench) && $(PY) bench/services.py && $(PY) bench/saga.py --rates 10 20 40 60 80 100; rc=$$?; $(DEVSTACK) down --profile bench; exit $$rc

# One order of each outcome through the running `make up` stack, and each one's journey.
.PHONY: demo chaos load
demo: setup
	$(PY) -m devstack.demo

# Steady shop traffic through a running stack's gateway (default: `make up`'s), RATE shoppers
# a second for DURATION seconds, with live progress and a summary.
RATE ?= 5
DURATION ?= 30
LOAD_PROFILE ?= local
load: setup
	$(PY) -m devstack.load --profile $(LOAD_PROFILE) --rate $(RATE) --duration $(DURATION)

# The fault tests too long for `make test` (tests/chaos, marked `chaos`) with the rest of
# tests/chaos, on a fresh stack of CHAOS_PROFILE (default test), stopped afterwards.
CHAOS_PROFILE ?= test
chaos: setup
	@$(TOOLCHAIN) ensure --for up
	$(DEVSTACK) down --profile $(CHAOS_PROFILE) >/dev/null 2>&1 || true
	@set +e; \
	$(DEVSTACK) up --profile $(CHAOS_PROFILE); up_rc=$$?; \
	if [ $$up_rc -eq 0 ]; then \
	  FLOTILLA_CHAOS=1 FLOTILLA_PROFILE=$(CHAOS_PROFILE) $(PY) -m pytest tests/chaos $(PYTEST_ARGS); rc=$$?; \
	else rc=$$up_rc; fi; \
	$(DEVSTACK) down --profile $(CHAOS_PROFILE); down_rc=$$?; \
	if [ $$rc -eq 0 ] && [ $$down_rc -ne 0 ]; then rc=$$down_rc; fi; \
	exit $$rc

# ---- Kubernetes delivery, validated offline -------------------------------------------------
# `make deploy-check` (run first by `make test`): the generated copies are fresh, then
# tests/deploy: helm lint/template (default, dev, prod values), strict schema validation of
# every rendered object (kubernetes-validate for Kubernetes' kinds, kubeconform for the CRDs),
# kubectl kustomize of each overlay, skaffold.yaml against skaffold's JSON schema, policy checks,
# promtool on the rendered rules, and the route table / topic file against the services' code.
# helm, kubeconform and the CRD files are pinned in devstack.toolchain.catalog and built or
# fetched once into the tool cache from the Go module proxy.
.PHONY: deploy-tools deploy-generate deploy-check

deploy-tools:
	@$(TOOLCHAIN) ensure --for deploy-check

# Rewrite what is generated: first, from the services' manifests (services/<name>/src/<name>/
# service.toml), every per-service list (pyproject.toml's, skaffold.yaml's, the route table, the
# topic file and its packaged copy, the umbrella chart's dependencies and values, the overlays',
# dev-secrets.sh's: devstack.manifests), the event contracts that follow from the topic file;
# then the umbrella's files/platform.yaml and files/observability/, and deploy/k8s's rendered
# manifests (after a change to a manifest, deploy/observability or the charts).
deploy-generate: setup deploy-tools
	$(PY) -m devstack.manifests generate
	$(PY) -m contracts generate
	$(PY) -m devstack.charts generate --helm $(call tool_path,helm)

deploy-check: setup deploy-tools
	$(PY) -m devstack.manifests check
	$(PY) -m devstack.charts check --helm $(call tool_path,helm)
	$(PY) -m pytest tests/deploy -q

# ---- Kubernetes cluster (issue 12)
# A real single-node cluster on this machine (python -m devstack.cluster, see its docstrings):
# Kubernetes v1.37.2, CoreDNS and pause built once into ${FLOTILLA_CACHE:-~/.cache/flotilla}
# (cold ~20-25 min on 2 busy cores, warm seconds), etcd/containerd/runc/CNI from Debian, state
# under .run/k8s/ (kubeconfig: .run/k8s/kubeconfig). k8s-up is idempotent; k8s-down leaves no
# process, mount, interface, namespace, iptables rule or route behind. Needs root.
K8S := $(PY) -m devstack.cluster

.PHONY: k8s-packages k8s-up k8s-down k8s-status k8s-test

k8s-packages:
	@[ "$$(id -u)" = 0 ] || { echo "k8s: the cluster needs root (containerd, kubelet and iptables change the host)" >&2; exit 1; }
	@$(TOOLCHAIN) ensure --for k8s

k8s-up: setup k8s-packages
	$(K8S) up

k8s-down: setup
	$(K8S) down

k8s-status: setup
	$(K8S) status

# The cluster's own smoke tests (node Ready, Service by IP and DNS name, DNS zone, PVC, PodSecurity,
# NetworkPolicy where the kernel allows), then the platform on it (tests/k8s/test_platform.py):
# `make images` (kept per commit), loaded into the cluster's containerd, the umbrella chart
# installed with one `helm install --wait` and the dev values, the shop flow through its gateway
# (the welcome email read from the in-cluster SMTP sink), each service's docs pages and their
# files, one service's chart alone in its own namespace, uninstalled; the load generator turned
# on, placing orders, turned off (test_load_generator.py); the dev kustomize overlay applied server-side, Ready, deleted
# (test_kustomize.py); the prod values dry-run on the API server with the CRDs they need
# installed (test_prod_values.py). A
# cluster that was already up stays up; one that this target started is stopped again
# afterwards, pass or fail.
K8S_IMAGES := $(CURDIR)/.run/k8s-images.tar

k8s-test: setup k8s-packages images deploy-tools
	@set +e; \
	if $(K8S) status >/dev/null 2>&1; then started=""; else started=1; fi; \
	$(K8S) up; rc=$$?; \
	if [ $$rc -eq 0 ]; then \
	  $(PY) -m devstack.images save $(K8S_IMAGES) && $(K8S) load $(K8S_IMAGES); rc=$$?; \
	  rm -f $(K8S_IMAGES); \
	fi; \
	if [ $$rc -eq 0 ]; then \
	  KUBECONFIG=$(CURDIR)/.run/k8s/kubeconfig FLOTILLA_HELM=$(call tool_path,helm) \
	  FLOTILLA_K8S_HELM_SET="$$($(PY) -m devstack.images helm-set)" \
	  $(PY) -m pytest tests/k8s -q $(PYTEST_ARGS); rc=$$?; \
	fi; \
	if [ -n "$$started" ]; then $(K8S) down || rc=1; fi; \
	exit $$rc

# ---- Container images (issue 12)
# `make images`: every image the charts reference (the six services with their API docs pages'
# files, the load generator, the dev gateway, Postgres, Kafka and SMTP sink), built with podman
# from Debian packages, uv's wheel, the npm registry (the tool cache's docs-assets entry) and
# Maven Central -- no registry image pulls, no Docker engine
# (libs/devstack/src/devstack/images.py, recipes in deploy/images). Installs podman, buildah and mmdebstrap when missing (`ensure --for images`);
# the Debian root filesystem and the Kafka jars are cached with the tools. Tags are
# <version>-<git short sha>; `python -m devstack.images list | helm-set | save <archive>` serve
# the cluster. `make images-check`: the built images' properties (tests/images).
.PHONY: images images-check

images: setup
	@$(TOOLCHAIN) ensure --for images
	$(PY) -m devstack.images build

images-check: images
	FLOTILLA_IMAGES=1 $(PY) -m pytest tests/images -q $(PYTEST_ARGS)
