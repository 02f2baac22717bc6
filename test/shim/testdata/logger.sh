#!/bin/sh
# binary:// log driver for tests: stdout and stderr to files named after the container.
dir=$(dirname "$0")
exec 5>&-
cat <&3 > "$dir/$CONTAINER_ID.stdout" &
cat <&4 > "$dir/$CONTAINER_ID.stderr" &
exec 3<&- 4<&-
wait
