#!/bin/sh
# Debian packages that tests or benches use, installed where we run as root with apt-get (as CI
# does) and the binary is missing; elsewhere a note says what will skip.
# usage: system-packages.sh "WHAT SKIPS" PACKAGE[:BINARY]...   (BINARY defaults to PACKAGE)
what=$1
shift
for entry in "$@"; do
	pkg=${entry%%:*}
	bin=${entry##*:}
	# sshd lives in /usr/sbin, which is not on every PATH
	if command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ]; then
		continue
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		(apt-get install -y --no-install-recommends "$pkg" ||
			(apt-get update && apt-get install -y --no-install-recommends "$pkg")) >/dev/null 2>&1 ||
			echo "note: could not install $pkg; $what"
	else
		echo "note: $pkg is not installed; $what"
	fi
done
