#!/bin/sh
# A CGI script (plain HTTP, not WebSocket): answers with every variable it was
# given, sorted. Shows what --cgidir scripts learn about a request: the RFC 3875
# variables (SCRIPT_NAME, QUERY_STRING, CONTENT_LENGTH…), HTTP_* headers and
# the --passenv variables.
#   websocketd --port=8080 --cgidir=examples/cgi-bin
#   curl 'http://localhost:8080/dump-env.sh?x=1'
printf 'Content-Type: text/plain; charset=utf-8\n\n'
env | LC_ALL=C sort
