#!/usr/bin/env bash
# The user's path, as CI walks it (`make smoke`, run by `make test`): a fresh venv with
# `pip install <checkout>` (not editable, no extras), then every default command from a folder
# outside the checkout. The pytest suite runs in the dev venv, which has every extra installed,
# so only this script sees a runtime dependency that sits in an extra (TensorBoard once did).
#
# usage: tests/smoke/plain_install.sh [VENV]
#   VENV: a plain venv to reuse (made by an earlier run); default: a fresh one, removed at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
work=$(mktemp -d "${TMPDIR:-/tmp}/kopt-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv=${1:-$work/venv}
user=$work/user   # the user's folder: nothing of the checkout is reachable from here
mkdir -p "$user"
cd "$user"
export TF_CPP_MIN_LOG_LEVEL=3 COLUMNS=200 PYTHONPATH= HYDRA_FULL_ERROR=
unset PYTHONPATH HYDRA_FULL_ERROR
start=$SECONDS
log=$work/step.log

fail() {
  echo "smoke: FAILED: $1" >&2
  tail -n 25 "$log" >&2
  exit 1
}

# step NAME CMD...: CMD must succeed
step() {
  local name=$1 t0=$SECONDS
  shift
  "$@" >"$log" 2>&1 || fail "$name (exit $?)"
  echo "smoke: ok   $name ($((SECONDS - t0)) s)"
}

# refuses NAME NEEDLE CMD...: CMD must fail with one `kopt: error:` line holding NEEDLE, no traceback
refuses() {
  local name=$1 needle=$2 t0=$SECONDS
  shift 2
  if "$@" >"$log" 2>&1; then fail "$name: exit 0, expected a one-line error"; fi
  ! grep -q Traceback "$log" || fail "$name: a traceback instead of one line"
  [ "$(grep -c '^kopt: error:' "$log")" = 1 ] || fail "$name: not exactly one 'kopt: error:' line"
  grep '^kopt: error:' "$log" | grep -qF -- "$needle" || fail "$name: the error does not name '$needle'"
  echo "smoke: ok   $name: $(grep '^kopt: error:' "$log") ($((SECONDS - t0)) s)"
}

if [ ! -x "$venv/bin/kopt" ]; then
  t0=$SECONDS
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q "$repo" >"$log" 2>&1 || fail "pip install $repo"
  echo "smoke: ok   pip install <checkout>, no extras ($((SECONDS - t0)) s)"
fi
kopt=$venv/bin/kopt
py=$venv/bin/python
"$py" -c 'import kopt, sys; sys.exit(kopt.__file__.startswith(sys.argv[1]))' "$repo" \
  || { echo "smoke: FAILED: kopt is imported from the checkout, not the install" >&2; exit 1; }

step "kopt train, 2 epochs" "$kopt" train trainer.epochs=2
run=$(ls -d runs/train/*/ | head -n 1)
step "kopt tune, 3 trials" "$kopt" tune model=mlp tuner.n_trials=3 tuner.study_name=smoke trainer.epochs=2 \
  'search.model.width=choice(8,16)'
# plots are best-effort in kopt tune (a failed one is skipped): a missing plotting dependency shows here
step "kopt tune wrote its plots" test -n "$(find runs/tune/smoke -name '*.png' -print -quit)"
step "kopt report --html (a study, offline page)" "$kopt" report runs/tune/smoke --html study.html
step "the page holds its trials and plotly.js" grep -q 'Plotly.newPlot' study.html
step "kopt report | head -1 ends quietly" bash -c "set +o pipefail; '$kopt' report runs 2>err.txt | head -1 >/dev/null; ! grep -q Traceback err.txt"
step "kopt worker (the study is complete)" "$kopt" worker tuner.storage=runs/tune/smoke/journal.log tuner.study_name=smoke
# tuner.n_workers: the workers are forked from a fork server that imports kopt.tune.running.preload from the install
if [ "$(nproc)" -ge 2 ]; then
  step "kopt tune, 2 workers" "$kopt" tune model=mlp tuner.n_trials=2 tuner.n_workers=2 tuner.study_name=pair \
    trainer.epochs=1 tuner.retrain_best=false tuner.plots=false 'search.model.width=choice(8,16)'
  step "the 2 workers finished both trials" "$py" -c 'import json; c = json.load(open("runs/tune/pair/summary.json"))["counts"]; assert c["COMPLETE"] == 2, c'
fi
step "kopt ab" "$kopt" ab a='model=mlp model.width=16' b='model=mlp model.width=32' split=kfold split.k=2 \
  trainer.epochs=2 --out runs/ab/smoke --resamples 200
step "kopt compare" "$kopt" compare runs/ab/smoke/a runs/ab/smoke/b --resamples 200
step "kopt ensemble" "$kopt" ensemble runs/ab/smoke/a
step "kopt report --plot" "$kopt" report runs/ --plot
step "kopt models" "$kopt" models model=cnn   # (every preset: a minute of graph building, the same code)
step "kopt predict" "$kopt" predict "$run" dataset=digits --out predictions.csv

# Issue 26/28's user paths: a model of the user's own, from a folder holding only mynets.py (no
# PYTHONPATH); label smoothing on a batch-norm model; two objectives over a two-choice space.
cat >mynets.py <<'PY'
import keras


def build(input_shape, num_outputs, width=16):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(width, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_outputs)(x))
PY
step "kopt train model=custom (mynets.py here)" "$kopt" train model=custom model._target_=mynets.build \
  model.width=8 trainer.epochs=1
step "kopt tune searches model.width of mynets.build" "$kopt" tune model=custom model._target_=mynets.build \
  'search.model.width=choice(8,16)' tuner.n_trials=2 trainer.epochs=1 tuner.study_name=custom
step "kopt train model=cnn trainer.label_smoothing=0.1" "$kopt" train model=cnn trainer.label_smoothing=0.1 \
  trainer.epochs=1
step "a two-objective study over a two-choice space" "$kopt" tune model=mlp tuner.n_trials=3 trainer.epochs=1 \
  'tuner.objectives=[val_accuracy:max,params:min]' 'search.model.width=choice(8,16)' tuner.study_name=two

# A model.keras loads where kopt cannot be imported. The plain venv has kopt in its site-packages,
# so the process blocks it before anything runs: `sys.modules["kopt"] = None` makes every
# `import kopt...` (a custom object, a registered function) raise ImportError, which Keras would
# report while loading. -I keeps PYTHONPATH and the current folder off sys.path.
step "load model.keras without kopt" "$py" -I -c '
import sys
sys.modules["kopt"] = None
try:
    import kopt
except ImportError:
    pass
else:
    raise SystemExit("kopt is importable")
import keras, numpy as np
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
x = np.zeros((3, *model.input_shape[1:]), "float32")
p = model.predict(x, verbose=0)
assert p.shape[0] == 3 and np.allclose(p.sum(axis=1), 1, atol=1e-4), p
assert not [m for m in sys.modules if m.startswith("kopt.")]
' "$run/model.keras"

# Extras that are not installed: one line naming the install command, nothing run.
refuses "joblib launcher without its extra" "kopt[joblib]" "$kopt" train -m hydra/launcher=joblib seed=0,1
refuses "slurm launcher without its extra" "kopt[slurm]" "$kopt" train -m hydra/launcher=slurm seed=0,1
refuses "PostgreSQL storage without a driver" "kopt[distributed]" "$kopt" tune tuner.n_trials=1 \
  tuner.storage=postgresql://kopt:x@127.0.0.1:9/kopt tuner.study_name=pg
refuses "logger=mlflow without mlflow" "kopt[mlflow]" "$kopt" train logger=mlflow
refuses "tuner=gp without torch" "kopt[gp]" "$kopt" tune tuner=gp tuner.n_trials=1
refuses "kopt export --format onnx without tf2onnx" "kopt[export]" "$kopt" export "$run" --format onnx

echo "smoke: passed in $((SECONDS - start)) s"
