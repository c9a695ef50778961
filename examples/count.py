#!/usr/bin/env python3
# Server push in Python: prints 1 to 10, two a second, then exits.
# Python buffers stdout when it is a pipe, so every line is flushed.
#   deno run -A main.ts --port=8080 ./examples/count.py
import sys
import time

for i in range(1, 11):
    print(i)
    sys.stdout.flush()
    time.sleep(0.5)
