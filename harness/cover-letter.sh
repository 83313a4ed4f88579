#!/bin/bash
# cover-letter.sh BODY RESULTS: write patches/0000-cover-letter.patch from a
# body text and a results text, with the shortlog and diffstat of the
# series as it is in build/edit/linux (make series-edit first).
. "$(dirname "$0")/lib.sh"

body=${1:?usage: cover-letter.sh BODY RESULTS}
results=${2:?usage: cover-letter.sh BODY RESULTS}
wt=$BUILD/edit/linux
n=$(git -C "$wt" rev-list --count base..HEAD)
{
	printf 'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n'
	printf 'From: %s <%s>\n' "$(git -C "$TOP" config user.name)" "$(git -C "$TOP" config user.email)"
	printf 'Date: %s\n' "$(date -R)"
	printf 'Subject: [PATCH %0*d/%d] erofs: fscache mode fixes for 6.12.y, and shared domains\n' ${#n} 0 "$n"
	printf ' that never wait for each other\n\n'
	cat "$body"
	printf '\nResults\n=======\n\n'
	cat "$results"
	printf '\n'
	git -C "$wt" shortlog base..HEAD
	git -C "$wt" diff --stat base..HEAD
	printf '\n-- \n2.39.5\n\n'
} >"$TOP/patches/0000-cover-letter.patch"
note "wrote patches/0000-cover-letter.patch ($n patches)"
