#!/bin/sh
# Request/response: answers every line it reads with a greeting.
#   websocketd --port=8080 ./examples/greeter.sh
while IFS= read -r line; do
  echo "Hello $line!"
done
