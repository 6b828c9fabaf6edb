#!/bin/sh
# Prints 100 MB of log text.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
head -c 100000000 /dev/zero
