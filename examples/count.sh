#!/bin/sh
# Server push: prints 1 to 10, two a second, then exits (the session closes
# with code 1000 and reason "exit 0").
#   websocketd --port=8080 ./examples/count.sh
for i in 1 2 3 4 5 6 7 8 9 10; do
  echo "$i"
  sleep 0.5
done
