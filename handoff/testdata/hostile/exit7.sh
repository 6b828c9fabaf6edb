#!/bin/sh
# Exits with a status that has no verdict.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
echo "exit7: something odd happened" >&2
exit 7
