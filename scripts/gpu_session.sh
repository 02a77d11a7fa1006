#!/usr/bin/env bash
# wsbench's measurements in one lease of a GPU machine that has PyTorch but no internet and none of
# our data. Run from the repository root; everything it needs travels in .gpu/ (data), .whl/
# (wheels missing there) and .gpu/src (a snapshot of the code, so edits made here meanwhile do not
# reach a run in flight). Long runs survive between calls: they run in their own process session
# and checkpoint every epoch; results live outside the carried folders so a later call that
# carries .gpu again does not wipe them.
#
#   bash scripts/gpu_session.sh prepare        (here) snapshot HEAD, copy $WSBENCH_DATA, fetch wheels
#   bash scripts/gpu_session.sh start          set up, benchmark, launch the matrices (background;
#                                              WSBENCH_GPU_MATRICES, default "gpu-compare gpu-nb101";
#                                              "gpu-lease" is sized for one 30-minute lease)
#   bash scripts/gpu_session.sh wait SECONDS   follow progress; stop early when everything ended
#   bash scripts/gpu_session.sh collect        pack results, logs and reports into $OUT
set -u
ROOT=$PWD
USAGE="usage: $0 prepare|start|wait SECONDS|collect"
# Say how to use it before installing or creating anything.
case "${1:-}" in
prepare|start|collect) ;;
wait) [ -n "${2:-}" ] || { echo "$USAGE"; exit 2; } ;;
*) echo "$USAGE"; exit 2 ;;
esac
if [ "${1:-}" = prepare ]; then
  # Here, before the lease: what travels (name .gpu and .whl in the device tool's carry).
  [ -n "${WSBENCH_DATA:-}" ] || { echo "set WSBENCH_DATA to the data folder to copy"; exit 2; }
  rm -rf .gpu/src && mkdir -p .gpu/src .gpu/data .whl && git archive HEAD | tar -x -C .gpu/src || exit 1
  for d in cifar10 nb201 nb101; do [ -d "$WSBENCH_DATA/$d" ] && cp -r "$WSBENCH_DATA/$d" .gpu/data/; done
  [ -f "$WSBENCH_DATA/SHA256SUMS" ] && cp "$WSBENCH_DATA/SHA256SUMS" .gpu/data/
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .whl analog-nasbench==0.1.3 || exit 1
  du -sh .gpu .whl; exit 0
fi
SRC=${WSBENCH_SRC:-$ROOT/.gpu/src}
RUN=${WSBENCH_RUN:-/tmp/wsbench-gpu}
OUT=${OUT:-$RUN/out}
mkdir -p "$RUN/logs" "$OUT"
export WSBENCH_DATA=$ROOT/.gpu/data WSBENCH_CACHE=$RUN/cache WSBENCH_RESULTS=$RUN/results PYTHONUNBUFFERED=1
if [ ! -d /tmp/site/analog_nasbench ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$ROOT"/.whl/*.whl || exit 1
fi
export PYTHONPATH=$SRC:/tmp/site
WS="python3 -m harness.cli"

case "${1:-}" in
start)
  nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv | tee "$OUT/gpu.txt"
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"
  # Speed first, on a quiet GPU (#5): batch 64 latency, batch 256 one cell and k cells at once.
  (cd "$SRC" && $WS bench --device cuda --C 16 --N 5 --batch-size 64 --steps 200 --cells 1 && \
                $WS bench --device cuda --C 16 --N 5 --batch-size 256 --steps 100 --cells 1,4,7 && \
                $WS bench --device cuda --C 16 --N 5 --batch-size 256 --steps 100 --autocast bf16) 2>&1 | tee "$OUT/bench.txt"
  cd "$SRC"
  for m in ${WSBENCH_GPU_MATRICES:-gpu-compare gpu-nb101}; do
    setsid nohup $WS matrix run "$m" --threads 2 > "$RUN/logs/$m.log" 2>&1 < /dev/null &
  done
  sleep 5; echo launched ;;
wait)
  end=$(( $(date +%s) + ${2:-300} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 30
    running=$(pgrep -fc "harness.cli matrix run" || true)
    echo "== $(date +%T) matrix processes: $running; $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"
    for f in "$RUN"/logs/*.log; do echo "-- $(basename "$f"): $(tr '\r' '\n' < "$f" | grep -E 'epoch [0-9]+/' | tail -n 6 | sed 's/^.*\] //' | tr '\n' ';')"; done
    if [ -n "$(find "$RUN/results" -name failed.json 2>/dev/null | head -1)" ] || grep -qs "Traceback\|error:" "$RUN"/logs/*.log; then
      echo "!! a cell failed:"; for f in "$RUN"/logs/*.log; do tr '\r' '\n' < "$f" | grep -v "^matrix" | tail -n 30; done; break
    fi
    [ "$running" = "0" ] && { echo "all matrices ended"; break; }
  done ;;
collect)
  cd "$RUN" && tar --exclude='*.pt' -czf "$OUT/results.tgz" results logs && ls -la "$OUT" ;;
*) echo "$USAGE"; exit 2 ;;
esac
