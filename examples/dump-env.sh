#!/bin/sh
# Shows what a program learns about its connection: the CGI variables and
# every request header as HTTP_*. Behind a proxy, REMOTE_ADDR is the proxy and
# the browser's address is in HTTP_X_FORWARDED_FOR.
#   deno run -A main.ts --port=8080 ./examples/dump-env.sh
for name in SERVER_SOFTWARE GATEWAY_INTERFACE SERVER_PROTOCOL SERVER_NAME SERVER_PORT \
  REQUEST_METHOD REQUEST_URI SCRIPT_NAME PATH_INFO PATH_TRANSLATED QUERY_STRING \
  REMOTE_ADDR REMOTE_HOST REMOTE_PORT HTTPS UNIQUE_ID; do
  eval "value=\${$name-}"
  echo "$name=$value"
done
env | grep '^HTTP_' | sort
