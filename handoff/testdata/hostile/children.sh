#!/bin/sh
# Starts children, then never answers.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
sleep 3600 &
sleep 3600 &
sleep 3600
