#!/usr/bin/env python3
# Request/response in Python: answers every line it reads with a greeting.
# The explicit flush matters: without it replies sit in Python's pipe buffer.
#   deno run -A main.ts --port=8080 ./examples/greeter.py
import sys

for line in sys.stdin:
    print("Hello " + line.rstrip("\n") + "!")
    sys.stdout.flush()
