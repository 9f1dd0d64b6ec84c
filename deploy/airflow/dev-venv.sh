#!/usr/bin/env bash
# A local Airflow with chatfunnel installed beside it, to try the DAG and to let the tests
# parse and run it with a real Airflow: `bash deploy/airflow/dev-venv.sh [3|2]`.
# Airflow 3 (the default) or the newest 2.x goes into .chatfunnel/venvs/airflow<N>; the
# project is installed editable into the same Python, as the DAG's workers need it.
set -euo pipefail
cd "$(dirname "$0")/../.."
major="${1:-3}"
case "$major" in
  3) spec="apache-airflow>=3.1,<4" ;;
  2) spec="apache-airflow>=2.10,<3" ;;
  *) echo "usage: $0 [3|2]" >&2; exit 2 ;;
esac
venv=".chatfunnel/venvs/airflow$major"
if [ ! -x "$venv/bin/airflow" ]; then
  echo "==> installing $spec and chatfunnel into $venv"
  start=$(date +%s)
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "$spec" -e .
  "$venv/bin/python" -m pip check
  echo "==> $venv ready in $(( $(date +%s) - start )) s"
fi
"$venv/bin/python" -c "import airflow; print('Airflow', airflow.__version__, 'in', '$venv')"
