# Dropzone: every target a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SAM_CLI_VERSION ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
PARLIAMENT_VERSION ?= 1.6.4
UV := scripts/uv.sh
UV_SYNC_FLAGS := $(if $(CI),--locked,)
SAM := SAM_CLI_TELEMETRY=0 $(UV) tool run --from aws-sam-cli==$(SAM_CLI_VERSION) sam
# The scanners run in tool environments of their own, as SAM CLI does. parliament imports
# pkg_resources without declaring it, which setuptools 80 still ships (84 no longer does).
CHECKOV := $(UV) tool run --from checkov==$(CHECKOV_VERSION) checkov
PARLIAMENT_PYTHON := $(UV) tool run --from parliament==$(PARLIAMENT_VERSION) \
	--with setuptools==80.10.2 python

.PHONY: help setup demo test unit integration local infrastructure lint typecheck cfn-lint \
	sam-validate scan checkov parliament format bench build layer-requirements layer-check \
	clean docs docs-serve

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup: ## Install the project and its dev tools into .venv (bootstraps uv when missing), and Chromium for the dashboard test
	$(UV) sync $(UV_SYNC_FLAGS)
	scripts/install_system_packages.sh

demo: setup ## Run every workflow offline, end to end (`scripts/uv.sh run dropzone demo --keep` keeps the state)
	$(UV) run python -m dropzone_local.demo

test: setup lint typecheck cfn-lint sam-validate scan unit integration local infrastructure docs ## Lint, type-check, validate and scan the templates, run every test folder

PYTEST_WORKERS ?= auto
PYTEST := $(UV) run pytest -n $(PYTEST_WORKERS) --dist loadfile

unit: setup ## tests/unit: pure code, no moto (moto cannot even be imported), seconds
	$(PYTEST) -p tests.support.without_moto tests/unit

integration: setup ## tests/integration: the workflows on moto
	$(PYTEST) tests/integration

local: setup ## tests/local: LocalCloud, the CLI in subprocesses, the examples/ files
	$(PYTEST) tests/local

infrastructure: setup ## tests/infrastructure: the templates, the docs' reference pages and links, the layer and its pinned requirements
	$(PYTEST) tests/infrastructure

lint: ## ruff check and format check
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: ## mypy (strict, with the pydantic plugin)
	$(UV) run mypy

TEMPLATES := template.yaml $(sort $(wildcard stacks/*.yaml))

cfn-lint: ## Lint template.yaml and every nested template under stacks/ (SAM expanded), with AWS Labs' serverless rules
	$(UV) run cfn-lint --append-rules cfn_lint_serverless.rules -- $(TEMPLATES)

sam-validate: ## sam validate --lint on every template, with SAM CLI in its own tool environment
	for template in $(TEMPLATES); do $(SAM) validate --lint --region us-east-1 -t $$template || exit 1; done

scan: checkov cfn-lint parliament ## The template scanners: checkov, cfn-lint with the serverless rules, parliament on every IAM policy

checkov: ## checkov's CloudFormation checks on every template; a suppression needs its reason (Metadata checkov skip comment)
	$(CHECKOV) --framework cloudformation --skip-download --quiet --compact $(addprefix --file ,$(TEMPLATES))

parliament: ## parliament on every IAM policy document of the SAM-expanded templates (scripts/check_policies.py)
	$(PARLIAMENT_PYTHON) scripts/check_policies.py --sam-cli-version $(SAM_CLI_VERSION) $(TEMPLATES)

docs: setup ## Build the documentation into site/ (mkdocs build --strict: any warning fails)
	NO_MKDOCS_2_WARNING=1 $(UV) run mkdocs build --strict

docs-serve: setup ## Serve the documentation at http://127.0.0.1:8000, rebuilding on change
	$(UV) run mkdocs serve

format: ## Apply ruff's fixes and formatting
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

bench: setup ## Benchmarks: cold init, warm overhead, JSONL throughput and memory, 10,000 uploads through LocalCloud, Bedrock result merge (~25 min)
	$(UV) run python benchmarks/run.py

LAYER_REQUIREMENTS := layers/dropzone/requirements.txt
layer-requirements: ## Pin the layer's requirements to the versions in uv.lock
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --no-header --quiet \
	  --output-file $(LAYER_REQUIREMENTS)

build: ## sam build for python3.13 on arm64 (needs a Python 3.13; see docs/operations/deploy.md)
	PATH="$$(scripts/python313-bin.sh):$$PATH" $(SAM) build

LAYER_BUILD := $(CURDIR)/.aws-sam/build/DropzoneLayer/python
layer-check: ## After make build: the layer holds only the runtime at the pinned versions, and alone creates a lookoutvision client on Python 3.13
	$(UV) run python scripts/check_built_layer.py $(LAYER_BUILD) $(LAYER_REQUIREMENTS)
	AWS_DATA_PATH=$(LAYER_BUILD)/dropzone/botocore_data "$$(scripts/python313-bin.sh)/python3.13" -I -c \
	  'import sys; sys.path.insert(0, "$(LAYER_BUILD)"); import boto3, botocore; \
	   client = boto3.client("lookoutvision", region_name="us-east-1"); \
	   assert botocore.__file__.startswith("$(LAYER_BUILD)"); \
	   print("layer OK: botocore", botocore.__version__, "creates", client.meta.service_model.service_name)'

clean: ## Remove build output and caches
	rm -rf .aws-sam site .pytest_cache .mypy_cache .ruff_cache .hypothesis .tools
