#!/bin/sh
# A live vmstat-style feed for a dashboard: one JSON line every SECONDS seconds (default 1) of this
# machine's figures, read from /proc/stat, /proc/meminfo and /proc/loadavg (no vmstat needed).
# Shared by every viewer in broadcast mode, so it runs once however many pages are open:
#
#   deno run -A main.ts --port=8080 --broadcast --broadcast-replay=60 --broadcast-linger=5000 \
#     --broadcast-input=none --staticdir=examples/dashboard examples/dashboard/stats.sh
#
# then open http://localhost:8080/ (index.html next to this file). A line looks like:
# {"time":1700000000,"procs":{"running":2,"blocked":0},"memory_kb":{"total":…,"free":…,
#  "available":…,"buffers":…,"cached":…,"swap_used":…},"cpu_pct":{"user":3,"system":1,"idle":96,
#  "iowait":0,"steal":0},"per_second":{"interrupts":812,"context_switches":1530},"load":[0.12,0.30,0.41]}
interval=${1:-1}
case $interval in
'' | *[!0-9]* | 0)
  echo "usage: stats.sh [SECONDS]  (a whole number of seconds, at least 1)" >&2
  exit 64
  ;;
esac

# /proc/stat: the aggregate cpu line (jiffies), interrupts, context switches, runnable/blocked
sample() {
  while read -r key a b c d e f g h _; do
    case $key in
    cpu)
      busy_user=$((a + b))
      busy_system=$((c + f + g))
      idle=$d
      iowait=$e
      steal=${h:-0}
      ;;
    intr) intr=$a ;;
    ctxt) ctxt=$a ;;
    procs_running) running=$a ;;
    procs_blocked) blocked=$a ;;
    esac
  done </proc/stat
  total=$((busy_user + busy_system + idle + iowait + steal))
}

memory() {
  while read -r key value _; do
    case $key in
    MemTotal:) mem_total=$value ;;
    MemFree:) mem_free=$value ;;
    MemAvailable:) mem_available=$value ;;
    Buffers:) buffers=$value ;;
    Cached:) cached=$value ;;
    SwapTotal:) swap_total=$value ;;
    SwapFree:) swap_free=$value ;;
    esac
  done </proc/meminfo
}

pct() { [ "$2" -gt 0 ] && echo $((100 * $1 / $2)) || echo 0; }

sample
while :; do
  p_user=$busy_user p_system=$busy_system p_idle=$idle p_iowait=$iowait p_steal=$steal
  p_total=$total p_intr=$intr p_ctxt=$ctxt
  sleep "$interval"
  sample
  memory
  read -r load1 load5 load15 _ </proc/loadavg
  dt=$((total - p_total))
  printf '{"time":%s,"procs":{"running":%s,"blocked":%s},' "$(date +%s)" "$running" "$blocked"
  printf '"memory_kb":{"total":%s,"free":%s,"available":%s,"buffers":%s,"cached":%s,"swap_used":%s},' \
    "$mem_total" "$mem_free" "${mem_available:-$mem_free}" "$buffers" "$cached" \
    "$((swap_total - swap_free))"
  printf '"cpu_pct":{"user":%s,"system":%s,"idle":%s,"iowait":%s,"steal":%s},' \
    "$(pct $((busy_user - p_user)) $dt)" "$(pct $((busy_system - p_system)) $dt)" \
    "$(pct $((idle - p_idle)) $dt)" "$(pct $((iowait - p_iowait)) $dt)" \
    "$(pct $((steal - p_steal)) $dt)"
  printf '"per_second":{"interrupts":%s,"context_switches":%s},"load":[%s,%s,%s]}\n' \
    "$(((intr - p_intr) / interval))" "$(((ctxt - p_ctxt) / interval))" \
    "$load1" "$load5" "$load15"
done
