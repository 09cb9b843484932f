# Two commands: `make run` starts the app, `make test` runs the whole test suite.
# `make check` is the inner loop: ruff and the fast tests, nothing installed.
.PHONY: run test check bench

run:
	python3 -m pip install -q --disable-pip-version-check -r requirements.txt
	python3 -m streamlit run streamlit_app.py

test:
	bash scripts/test.sh

check:
	bash scripts/check.sh

bench:
	python3 bench/bench_readers.py
	python3 bench/bench_analysis.py
	python3 bench/bench_export.py
	python3 bench/bench_sets.py
	python3 bench/bench_app.py
