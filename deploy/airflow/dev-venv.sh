#!/usr/bin/env bash
# A local Airflow with chatfunnel installed beside it, to try the DAG and to let the tests
# parse and run it with a real Airflow: `bash deploy/airflow/dev-venv.sh [3|2]`.
# Airflow 3 (the default) or the newest 2.x goes into .chatfunnel/venvs/airflow<N>; the
# project is installed editable into the same Python, as the DAG's workers need it.
# `--airflow-only` installs Airflow and the project's dependencies but not the project: CI
# builds both virtualenvs while `make venv` runs, and as setuptools writes the project's
# metadata into the checkout, the editable installs come after, one at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
major="${1:-3}"
phase="${2:-all}"
case "$major" in
  3) spec="apache-airflow>=3.1,<4" ;;
  2) spec="apache-airflow>=2.10,<3" ;;
  *) echo "usage: $0 [3|2] [--airflow-only]" >&2; exit 2 ;;
esac
case "$phase" in
  all|--airflow-only) ;;
  *) echo "usage: $0 [3|2] [--airflow-only]" >&2; exit 2 ;;
esac
venv=".chatfunnel/venvs/airflow$major"
start=$(date +%s)
if [ ! -x "$venv/bin/airflow" ]; then
  echo "==> installing $spec into $venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
    >"$venv/chatfunnel-requirements.txt"  # the project's dependencies, resolved with Airflow's
  "$venv/bin/python" -m pip install --quiet "$spec" -r "$venv/chatfunnel-requirements.txt"
fi
if [ "$phase" = all ] && ! "$venv/bin/python" -m pip show chatfunnel >/dev/null 2>&1; then
  echo "==> installing chatfunnel (editable) beside $spec in $venv"
  "$venv/bin/python" -m pip install --quiet "$spec" -e .
  "$venv/bin/python" -m pip check
fi
echo "==> $venv ready in $(( $(date +%s) - start )) s"
"$venv/bin/python" -c "import airflow; print('Airflow', airflow.__version__, 'in', '$venv')"
