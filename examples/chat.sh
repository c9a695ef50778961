#!/bin/sh
# Multi-user chat with no server code: every connection's process appends
# what its user types to one shared log file and follows that file with
# `tail -f`, so each line reaches everybody. Open several tabs to try it.
# CHAT_LOG picks the file (pass it with --passenv=PATH,CHAT_LOG); the log
# keeps growing, like websocketd's own chat example.
#   deno run -A main.ts --port=8080 --devconsole ./examples/chat.sh
log="${CHAT_LOG:-/tmp/websocketd-chat.log}"
touch "$log"
echo "Welcome! Type your name and press enter."
IFS= read -r name || exit 0
# follow from the current end by byte offset, not "the last 0 lines": that
# stays right however late tail starts, so no line said after joining is lost
start=$(($(wc -c <"$log") + 1))
tail -c "+$start" -f "$log" &
follower=$!
trap 'kill "$follower" 2>/dev/null' EXIT
trap 'exit 0' INT TERM
echo "[$name joined]" >>"$log"
while IFS= read -r message; do
  echo "[$name] $message" >>"$log"
done
echo "[$name left]" >>"$log"
