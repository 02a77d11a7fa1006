#!/usr/bin/env bash
# wsbench's measurements in one lease of a GPU machine that has PyTorch but no internet and none of
# our data. Run from the repository root; everything it needs travels in .gpu/ (data), .whl/
# (wheels missing there) and .gpu/src (a snapshot of the code, so edits made here meanwhile do not
# reach a run in flight). Long runs survive between calls: they run in their own process session
# and checkpoint every epoch; results live outside the carried folders so a later call that
# carries .gpu again does not wipe them.
#
#   bash scripts/gpu_session.sh start          set up, benchmark, launch the matrices (background)
#   bash scripts/gpu_session.sh wait SECONDS   follow progress; stop early when everything ended
#   bash scripts/gpu_session.sh collect        pack results, logs and reports into $OUT
set -u
ROOT=$PWD
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
                $WS bench --device cuda --C 16 --N 5 --batch-size 256 --steps 100 --cells 1,4,7) 2>&1 | tee "$OUT/bench.txt"
  cd "$SRC"
  setsid nohup $WS matrix run gpu-compare --threads 2 > "$RUN/logs/gpu-compare.log" 2>&1 < /dev/null &
  setsid nohup $WS matrix run gpu-nb101 --threads 2 > "$RUN/logs/gpu-nb101.log" 2>&1 < /dev/null &
  sleep 5; echo launched ;;
wait)
  end=$(( $(date +%s) + ${2:-300} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 30
    running=$(pgrep -fc "harness.cli matrix run" || true)
    echo "== $(date +%T) matrix processes: $running; $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"
    for f in "$RUN"/logs/*.log; do echo "-- $(basename "$f"): $(tr '\r' '\n' < "$f" | grep -E 'epoch [0-9]+/' | tail -n 6 | sed 's/^.*\] //' | tr '\n' ';')"; done
    if [ -n "$(find "$RUN/results" -name failed.json 2>/dev/null | head -1)" ] || grep -qs "Traceback\|error:" "$RUN"/logs/*.log; then
      echo "!! a cell failed:"; tr '\r' '\n' < "$RUN"/logs/gpu-compare.log | grep -v "^matrix" | tail -n 30; tail -n 30 "$RUN"/logs/gpu-nb101.log; break
    fi
    [ "$running" = "0" ] && { echo "all matrices ended"; break; }
  done ;;
collect)
  cd "$RUN" && tar --exclude='*.pt' -czf "$OUT/results.tgz" results logs && ls -la "$OUT" ;;
*) echo "usage: $0 start|wait SECONDS|collect"; exit 2 ;;
esac
