#!/bin/sh
# Floods its standard error.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
yes "a noisy filter logs this line again and again" | head -c 50000000 >&2
