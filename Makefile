# hoidap — set-up and everyday commands. Everything installs into .venv; nothing is
# downloaded at run time (models and tokenizer files ship inside packages).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
CHROMIUM  ?= /usr/bin/chromium

.PHONY: run test lint format index eval bench browser clean train-reader loo-reader question-prior

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	@echo "==> Cài đặt hoidap và các thư viện vào $(VENV) (lần đầu mất vài phút)…"
	$(BIN)/pip install --progress-bar on -e .
	touch $@

# torch is pinned to the CPU build first so sentence-transformers never pulls a CUDA build.
$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,st]'
	touch $@ $(STAMP_RUN)

## make run: install, index seeds/ (incremental: nothing is re-embedded if unchanged), start the UI
run: $(STAMP_RUN)
	@echo "==> Lập chỉ mục seeds/ (chỉ nhúng các đoạn mới hoặc đã đổi)…"
	$(BIN)/hoidap index seeds/
	@echo "==> Khởi động giao diện trò chuyện (địa chỉ in ngay dưới đây)…"
	$(BIN)/hoidap serve

index: $(STAMP_RUN)
	$(BIN)/hoidap index seeds/

## make test: dev extras, a real Chromium for UI tests, lint, then every test
test: $(STAMP_DEV) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HOIDAP_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP_DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make eval: the seed QA set through the real assistant, with the quality gate
eval: $(STAMP_DEV)
	$(BIN)/hoidap index seeds/
	$(BIN)/hoidap eval --dataset evals/data/seed_qa.jsonl --out .hoidap/eval/seed --gate evals/gate.json

## make train-reader: rebuild the shipped reader (assistant/answering/reader/model/) from the open-licence sets
## in ../shared/benchmarks (resumes from assistant/answering/reader/model/checkpoint.pt if interrupted)
READER_RECIPE := --seed 0 --layers 6 --epochs 2 --lr 1e-4
train-reader: $(STAMP_DEV)
	$(BIN)/python -m evals.reader.train --out assistant/answering/reader/model $(READER_RECIPE)
	$(BIN)/python -m evals.reader.combine --model assistant/answering/reader/model --cache runs/combine

## make question-prior: rebuild index/data/question_ngrams.json (accent restoration) from ../shared/benchmarks
question-prior: $(STAMP_DEV)
	$(BIN)/python -m evals.question_prior --measure --out index/data/question_ngrams.json --weight 0.3

## make loo-reader: the shipped reader on the three evaluation-only domains it never saw (runs/loo)
## and on the open sets' unused validation questions (runs/open-test)
loo-reader: $(STAMP_DEV)
	$(BIN)/python -m evals.reader.loo --model assistant/answering/reader/model --out runs/loo
	$(BIN)/python -m evals.reader.open_test --out runs/open-test
	$(BIN)/hoidap eval --dataset runs/open-test/squad2_vi.json --out runs/open-test/run --no-plots

bench: $(STAMP_DEV)
	$(BIN)/python bench/index_bench.py
	$(BIN)/python bench/extract_bench.py
	$(BIN)/python bench/ask_bench.py

# Debian's Chromium for the browser tests (the test tools' own browser downloads do not work offline).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing: sudo apt-get install chromium (needed by the UI and widget tests)"; exit 1; fi; }

clean:
	rm -rf $(VENV) .hoidap .pytest_cache .ruff_cache
