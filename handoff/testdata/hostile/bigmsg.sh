#!/bin/sh
# Prints the message followed by 100 MB, as the rewritten message.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
cat "$1"
head -c 100000000 /dev/zero
