#!/bin/bash
# bench-report.sh OUTDIR
# Turns the "# bench: ..." lines of the guests' serial logs
# (OUTDIR/VARIANT/serial.log, and OUTDIR/VARIANT/p4-*.log whose P4
# repetitions are pooled) into
#   OUTDIR/records.tsv   variant measure selector metric median min max n
#   OUTDIR/table.txt     the table (also printed)
#   OUTDIR/results.json  one object per measure: p1 p2 p3 p4 mem p6 p5
#   OUTDIR/*.png         gnuplot plots
# A missing log or line leaves "-" in the table and null in the JSON.
. "$(dirname "$0")/lib.sh"

out=${1:?usage: bench-report.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)

extract() {	# extract VARIANT: records of OUTDIR/VARIANT/*.log
	local logs
	logs=$(ls "$out/$1"/serial.log "$out/$1"/p4-*.log 2>/dev/null)
	[ -n "$logs" ] || return 0
	awk -v V="$1" -v DAT="$out/p3grow-$1.dat" -v MEM="$out/memck-$1.dat" '
	function sortv(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) {
			t = a[i]
			for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
			a[j + 1] = t
		}
	}
	/^# bench: p4 / { next }	# per-guest summary: pooled from p4run below
	/^# bench: p4run / {
		k = $4 " " $5 " " $6; v = $8; sub(/mounts_per_s=/, "", v)
		if (!(k in np)) order[++nk] = k
		pv[k, ++np[k]] = v + 0
		next
	}
	/^# bench: / && / metric=/ {
		sel = ""; delete r
		for (i = 4; i <= NF && $i !~ /^metric=/; i++)
			sel = sel (sel == "" ? "" : " ") $i
		for (; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", V, $3, sel, r["metric"],
			r["median"], r["min"], r["max"], r["n"]
		next
	}
	/^# bench: p3grow / {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); g[kv[1]] = kv[2] }
		print g["blobs"], g["reg_ns"], g["mount_ms"] > DAT
		next
	}
	/^# bench: memck / {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); g[kv[1]] = kv[2] }
		print g["blobs"], g["slab_obj_bytes_per_blob"], g["kmem_bytes_per_blob"] > MEM
		next
	}
	/^# bench: (p4-setup|p3-setup|mem-slabs|p12-setup|p6-setup|p5-setup)/ {
		if (!seen[$0]++) printf "%s\tinfo\t%s\t\t\t\t\t\n", V, substr($0, 10)
	}
	END {
		for (o = 1; o <= nk; o++) {
			k = order[o]; n = np[k]
			for (i = 1; i <= n; i++) a[i] = pv[k, i]
			sortv(a, n)
			med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			printf "%s\tp4\t%s\tmounts_per_s\t%.1f\t%.1f\t%.1f\t%d\n", V, k, med, a[1], a[n], n
		}
	}' $logs
}
rm -f "$out"/p3grow-*.dat "$out"/memck-*.dat "$out"/p4-*.dat "$out"/*.png "$out"/*.gnuplot.log
{ extract stock; extract series; } >"$out/records.tsv"
limit_static=$(cat "$out/data/share-limit.txt" 2>/dev/null)

# ---- table and JSON -------------------------------------------------------
awk -F'\t' -v TABLE="$out/table.txt" -v JSON="$out/results.json" \
    -v BASE="$(base_version)" -v STATIC="$limit_static" -v QEMU="$(qemu-system-x86_64 --version | head -1)" '
function sortnum(arr, out,   n, k, i, j, t) {
	n = 0
	for (k in arr) out[++n] = k + 0
	for (i = 2; i <= n; i++) {
		t = out[i]
		for (j = i - 1; j >= 1 && out[j] > t; j--) out[j + 1] = out[j]
		out[j + 1] = t
	}
	return n
}
function has(v, m, s, k) { return ((v, m, s, k) in med) }
function num(x) { return x == "" ? "null" : x + 0 }
function js(v, m, s, k, scale) {
	if (!has(v, m, s, k)) return "null"
	return sprintf("{\"median\": %s, \"min\": %s, \"max\": %s, \"n\": %d}",
		fmtn(med[v, m, s, k] * scale), fmtn(lo[v, m, s, k] * scale),
		fmtn(hi[v, m, s, k] * scale), cnt[v, m, s, k])
}
function fmtn(x) { return x == int(x) ? sprintf("%d", x) : sprintf("%.3f", x) }
function ratio(a, am, as, ak, b, bm, bs, bk) {
	if (!has(a, am, as, ak) || !has(b, bm, bs, bk) || med[b, bm, bs, bk] == 0) return ""
	return med[a, am, as, ak] / med[b, bm, bs, bk]
}
function cell(v, m, s, k, scale, f,   t) {
	if (!has(v, m, s, k)) return "-"
	t = sprintf(f, med[v, m, s, k] * scale)
	if (lo[v, m, s, k] != hi[v, m, s, k])
		t = t sprintf(" [" f "-" f "]", lo[v, m, s, k] * scale, hi[v, m, s, k] * scale)
	return t
}
function row(label, nd, st, se, lim, r) {
	line = sprintf("%-32s %-12s %-24s %-24s %-10s %s", label, nd, st, se, lim,
		r == "" ? "-" : sprintf("%.2f", r))
	print line; print line > TABLE
}
function head(t) { print t; print t > TABLE }
{
	if ($2 == "info") { info[$1] = info[$1] " " $3; next }
	med[$1, $2, $3, $4] = $5; lo[$1, $2, $3, $4] = $6; hi[$1, $2, $3, $4] = $7
	cnt[$1, $2, $3, $4] = $8
	if ($2 == "p4") { split($3, a, /[ =]/); bgs[a[2]] = 1; ks[a[4]] = 1 }
	if ($2 == "p3") { split($3, a, "="); sizes[a[2]] = 1 }
	if ($2 == "mem") memsel = $3
}
END {
	MiB = 1 / 1048576
	head(sprintf("%-32s %-12s %-24s %-24s %-10s %s", "measure: median [min-max]",
		"no domain", "stock domain", "series domain", "limit", "series/stock"))
	row("P1 daemon OPENs", cell("stock", "p1", "mode=nodomain", "opens", 1, "%.0f"),
		cell("stock", "p1", "mode=domain", "opens", 1, "%.0f"),
		cell("series", "p1", "mode=domain", "opens", 1, "%.0f"),
		cell("stock", "p1", "mode=limit", "opens", 1, "%.0f"),
		ratio("series", "p1", "mode=domain", "opens", "stock", "p1", "mode=domain", "opens"))
	row("P1 bytes served (MiB)", cell("stock", "p1", "mode=nodomain", "bytes_served", MiB, "%.2f"),
		cell("stock", "p1", "mode=domain", "bytes_served", MiB, "%.2f"),
		cell("series", "p1", "mode=domain", "bytes_served", MiB, "%.2f"),
		cell("stock", "p1", "mode=limit", "bytes_served", MiB, "%.2f"),
		ratio("series", "p1", "mode=domain", "bytes_served", "stock", "p1", "mode=domain", "bytes_served"))
	row("P2 cache on disk (MiB)", cell("stock", "p2", "mode=nodomain", "cache_bytes", MiB, "%.2f"),
		cell("stock", "p2", "mode=domain", "cache_bytes", MiB, "%.2f"),
		cell("series", "p2", "mode=domain", "cache_bytes", MiB, "%.2f"),
		cell("stock", "p2", "mode=limit", "cache_bytes", MiB, "%.2f"),
		ratio("series", "p2", "mode=domain", "cache_bytes", "stock", "p2", "mode=domain", "cache_bytes"))
	head(sprintf("  (no domain on the series kernel: %s OPENs, %s MiB served, %s MiB cached)",
		cell("series", "p1", "mode=nodomain", "opens", 1, "%.0f"),
		cell("series", "p1", "mode=nodomain", "bytes_served", MiB, "%.2f"),
		cell("series", "p2", "mode=nodomain", "cache_bytes", MiB, "%.2f")))
	n = sortnum(sizes, sz)
	for (i = 1; i <= n; i++) {
		s = "blobs=" sz[i]
		row(sprintf("P3 register 1 blob @%d (us)", sz[i]), "",
			cell("stock", "p3", s, "reg_ns", 0.001, "%.1f"),
			cell("series", "p3", s, "reg_ns", 0.001, "%.1f"), "",
			ratio("series", "p3", s, "reg_ns", "stock", "p3", s, "reg_ns"))
	}
	for (i = 1; i <= n; i++) {
		s = "blobs=" sz[i]
		row(sprintf("P3 mount small image @%d (ms)", sz[i]), "",
			cell("stock", "p3", s, "mount_ms", 1, "%.2f"),
			cell("series", "p3", s, "mount_ms", 1, "%.2f"), "",
			ratio("series", "p3", s, "mount_ms", "stock", "p3", s, "mount_ms"))
	}
	nk = sortnum(ks, kk)
	nb = sortnum(bgs, bb)
	for (b = 1; b <= nb; b++) {
		if (bb[b])
			head(sprintf("P4 with a neighbour domain holding %d blobs:", bb[b]))
		for (i = 1; i <= nk; i++)
			for (mi = 1; mi <= 2; mi++) {
				md = mi == 1 ? "split" : "one"
				s = "bg=" bb[b] " k=" kk[i] " mode=" md
				row(sprintf("%sP4 mounts/s K=%d %s", bb[b] ? "  " : "", kk[i], md == "split" ? "K domains" : "1 domain"), "",
					cell("stock", "p4", s, "mounts_per_s", 1, "%.1f"),
					cell("series", "p4", s, "mounts_per_s", 1, "%.1f"), "",
					ratio("series", "p4", s, "mounts_per_s", "stock", "p4", s, "mounts_per_s"))
			}
	}
	split("domain_b domain_b new_domain new_domain remount_a", p6w, " ")
	split("quiet teardown quiet teardown teardown", p6s, " ")
	split("P6 B mount, quiet (ms)|P6 B mount, A dying (ms)|P6 new domain, quiet (ms)|P6 new domain, A dying (ms)|P6 remount of A (ms)", p6l, "|")
	for (i = 1; i <= 5; i++) {
		s = "state=" p6s[i] " what=" p6w[i]
		row(p6l[i], "", cell("stock", "p6", s, "mount_ms", 1, "%.1f"),
			cell("series", "p6", s, "mount_ms", 1, "%.1f"), "",
			ratio("series", "p6", s, "mount_ms", "stock", "p6", s, "mount_ms"))
	}
	# What P6 is about is the worst wait: a mount caught behind the
	# teardown of another domain.  The median hides it when few are caught.
	for (i = 2; i <= 4; i += 2) {
		s = "state=" p6s[i] " what=" p6w[i]
		if (!has("stock", "p6", s, "mount_ms") || !has("series", "p6", s, "mount_ms")) continue
		row(p6l[i] " worst", "", sprintf("%.1f", hi["stock", "p6", s, "mount_ms"]),
			sprintf("%.1f", hi["series", "p6", s, "mount_ms"]), "",
			hi["stock", "p6", s, "mount_ms"] ? hi["series", "p6", s, "mount_ms"] / hi["stock", "p6", s, "mount_ms"] : "")
	}
	row("mem slab objects B/blob", "", cell("stock", "mem", memsel, "slab_obj_bytes_per_blob", 1, "%.0f"),
		cell("series", "mem", memsel, "slab_obj_bytes_per_blob", 1, "%.0f"), "",
		ratio("series", "mem", memsel, "slab_obj_bytes_per_blob", "stock", "mem", memsel, "slab_obj_bytes_per_blob"))
	row("mem kernel pages B/blob", "", cell("stock", "mem", memsel, "kmem_bytes_per_blob", 1, "%.0f"),
		cell("series", "mem", memsel, "kmem_bytes_per_blob", 1, "%.0f"), "",
		ratio("series", "mem", memsel, "kmem_bytes_per_blob", "stock", "mem", memsel, "kmem_bytes_per_blob"))
	# P5: page cache of the same files read from N images of one domain
	split("1 2 4 8 16", p5n, " ")
	if (has("stock", "p5", "n=1 mode=plain", "cache_bytes") || has("series", "p5", "n=1 mode=plain", "cache_bytes")) {
		head(sprintf("%-32s %-24s %-24s %-24s %-10s %s", "P5 page cache (MiB)",
			"stock domain", "series domain", "series inode_share", "limit", "share/limit"))
		for (i = 1; i <= 5; i++) {
			s = "n=" p5n[i]
			lim = has("series", "p5", s " mode=limit", "cache_bytes") ? "series" : "stock"
			t = sprintf("%-32s %-24s %-24s %-24s %-10s %s", sprintf("P5 %2d image(s)", p5n[i]),
				cell("stock", "p5", s " mode=plain", "cache_bytes", MiB, "%.1f"),
				cell("series", "p5", s " mode=plain", "cache_bytes", MiB, "%.1f"),
				cell("series", "p5", s " mode=inode_share", "cache_bytes", MiB, "%.1f"),
				cell(lim, "p5", s " mode=limit", "cache_bytes", MiB, "%.1f"),
				(r = ratio("series", "p5", s " mode=inode_share", "cache_bytes", lim, "p5", s " mode=limit", "cache_bytes")) == "" ? "-" : sprintf("%.2f", r))
			head(t)
		}
		for (i = 1; i <= 2; i++) {
			w = i == 1 ? "cold" : "warm"
			head(sprintf("%-32s %-24s %-24s %-24s", "P5 read " w " (MiB/s)",
				cell("stock", "p5read", "mode=plain what=" w, "mib_per_s", 1, "%.1f"),
				cell("series", "p5read", "mode=plain what=" w, "mib_per_s", 1, "%.1f"),
				cell("series", "p5read", "mode=inode_share what=" w, "mib_per_s", 1, "%.1f")))
		}
		head(sprintf("%-32s %-24s %-24s %-24s", "P5 mount one image (ms)",
			cell("stock", "p5mount", "mode=plain", "mount_ms", 1, "%.2f"),
			cell("series", "p5mount", "mode=plain", "mount_ms", 1, "%.2f"),
			cell("series", "p5mount", "mode=inode_share", "mount_ms", 1, "%.2f")))
	}
	for (v in info) { t = v ":" info[v]; print "  " t; print "  " t > TABLE }

	# ---- results.json
	o = JSON
	printf "{\n  \"base\": \"%s\",\n  \"config\": \"allnoconfig + configs/base.config + configs/bench.config\",\n", BASE > o
	printf "  \"qemu\": \"%s\",\n  \"accel\": \"tcg\",\n  \"guest_cpus\": 2,\n", QEMU > o
	printf "  \"p1\": {\"metric\": \"daemon OPENs\", \"nodomain\": %s, \"nodomain_series_kernel\": %s, \"stock\": %s, \"series\": %s, \"limit\": %s, \"ratio\": %s,\n", \
		js("stock", "p1", "mode=nodomain", "opens", 1), js("series", "p1", "mode=nodomain", "opens", 1),
		js("stock", "p1", "mode=domain", "opens", 1), js("series", "p1", "mode=domain", "opens", 1),
		js("stock", "p1", "mode=limit", "opens", 1),
		num(ratio("series", "p1", "mode=domain", "opens", "stock", "p1", "mode=domain", "opens")) > o
	printf "    \"bytes_served\": {\"nodomain\": %s, \"nodomain_series_kernel\": %s, \"stock\": %s, \"series\": %s, \"limit\": %s},\n", \
		js("stock", "p1", "mode=nodomain", "bytes_served", 1), js("series", "p1", "mode=nodomain", "bytes_served", 1),
		js("stock", "p1", "mode=domain", "bytes_served", 1), js("series", "p1", "mode=domain", "bytes_served", 1),
		js("stock", "p1", "mode=limit", "bytes_served", 1) > o
	printf "    \"limit_static\": \"%s\"},\n", STATIC > o
	printf "  \"p2\": {\"metric\": \"cache bytes on disk after umount\", \"nodomain\": %s, \"nodomain_series_kernel\": %s, \"stock\": %s, \"series\": %s, \"limit\": %s, \"ratio\": %s},\n", \
		js("stock", "p2", "mode=nodomain", "cache_bytes", 1), js("series", "p2", "mode=nodomain", "cache_bytes", 1),
		js("stock", "p2", "mode=domain", "cache_bytes", 1), js("series", "p2", "mode=domain", "cache_bytes", 1),
		js("stock", "p2", "mode=limit", "cache_bytes", 1),
		num(ratio("series", "p2", "mode=domain", "cache_bytes", "stock", "p2", "mode=domain", "cache_bytes")) > o
	printf "  \"p3\": {\"metric\": \"ns to register one blob (function_graph on erofs_fscache_register_cookie), median of per-mount medians\", \"nodomain\": null, \"limit\": null" > o
	for (vi = 1; vi <= 3; vi++) {
		v = vi == 1 ? "stock" : vi == 2 ? "series" : "ratio"
		printf ",\n    \"%s\": {", v > o
		for (i = 1; i <= n; i++) {
			s = "blobs=" sz[i]
			val = v == "ratio" ? num(ratio("series", "p3", s, "reg_ns", "stock", "p3", s, "reg_ns")) : js(v, "p3", s, "reg_ns", 1)
			printf "%s\"%d\": %s", (i > 1 ? ", " : ""), sz[i], val > o
		}
		printf "}" > o
	}
	printf ",\n    \"mount_ms\": {" > o
	for (vi = 1; vi <= 3; vi++) {
		v = vi == 1 ? "stock" : vi == 2 ? "series" : "ratio"
		printf "%s\"%s\": {", (vi > 1 ? ", " : ""), v > o
		for (i = 1; i <= n; i++) {
			s = "blobs=" sz[i]
			val = v == "ratio" ? num(ratio("series", "p3", s, "mount_ms", "stock", "p3", s, "mount_ms")) : js(v, "p3", s, "mount_ms", 1)
			printf "%s\"%d\": %s", (i > 1 ? ", " : ""), sz[i], val > o
		}
		printf "}" > o
	}
	printf "}},\n" > o
	printf "  \"p4\": {\"metric\": \"mount+umount cycles per second by K workers (keys: neighbour-domain blobs, then K), guest -smp 2\", \"nodomain\": null, \"limit\": null" > o
	for (vi = 1; vi <= 3; vi++) {
		v = vi == 1 ? "stock" : vi == 2 ? "series" : "ratio"
		printf ",\n    \"%s\": {", v > o
		for (b = 1; b <= nb; b++) {
			printf "%s\"neighbour_blobs_%d\": {", (b > 1 ? ", " : ""), bb[b] > o
			for (mi = 1; mi <= 2; mi++) {
				md = mi == 1 ? "split" : "one"
				printf "%s\"%s\": {", (mi > 1 ? ", " : ""), (md == "split" ? "k_domains" : "one_domain") > o
				for (i = 1; i <= nk; i++) {
					s = "bg=" bb[b] " k=" kk[i] " mode=" md
					val = v == "ratio" ? num(ratio("series", "p4", s, "mounts_per_s", "stock", "p4", s, "mounts_per_s")) : js(v, "p4", s, "mounts_per_s", 1)
					printf "%s\"%d\": %s", (i > 1 ? ", " : ""), kk[i], val > o
				}
				printf "}" > o
			}
			printf "}" > o
		}
		printf "}" > o
	}
	printf "},\n" > o
	printf "  \"mem\": {\"metric\": \"kernel bytes per registered blob (meminfo deltas, caches dropped, %s)\", \"nodomain\": null, \"limit\": null,\n", memsel > o
	printf "    \"stock\": {\"slab_objects\": %s, \"slab_vmalloc_percpu_pages\": %s},\n", js("stock", "mem", memsel, "slab_obj_bytes_per_blob", 1), js("stock", "mem", memsel, "kmem_bytes_per_blob", 1) > o
	printf "    \"series\": {\"slab_objects\": %s, \"slab_vmalloc_percpu_pages\": %s},\n", js("series", "mem", memsel, "slab_obj_bytes_per_blob", 1), js("series", "mem", memsel, "kmem_bytes_per_blob", 1) > o
	printf "    \"ratio\": {\"slab_objects\": %s, \"slab_vmalloc_percpu_pages\": %s}},\n", \
		num(ratio("series", "mem", memsel, "slab_obj_bytes_per_blob", "stock", "mem", memsel, "slab_obj_bytes_per_blob")),
		num(ratio("series", "mem", memsel, "kmem_bytes_per_blob", "stock", "mem", memsel, "kmem_bytes_per_blob")) > o
	printf "  \"p6\": {\"metric\": \"ms to mount and unmount an image while domain A is torn down behind a daemon that holds its close (teardown_bench), median\", \"nodomain\": null, \"limit\": null" > o
	for (vi = 1; vi <= 3; vi++) {
		v = vi == 1 ? "stock" : vi == 2 ? "series" : "ratio"
		printf ",\n    \"%s\": {", v > o
		for (i = 1; i <= 5; i++) {
			s = "state=" p6s[i] " what=" p6w[i]
			val = v == "ratio" ? num(ratio("series", "p6", s, "mount_ms", "stock", "p6", s, "mount_ms")) : js(v, "p6", s, "mount_ms", 1)
			printf "%s\"%s_%s\": %s", (i > 1 ? ", " : ""), p6w[i], p6s[i], val > o
		}
		printf "}" > o
	}
	printf "},\n" > o
	# P5, each variant an object keyed by N (bytes of page cache)
	printf "  \"p5\": {\"metric\": \"growth of /proc/meminfo Cached (bytes) when N images of one domain each read the same 32 MiB of files (pcshare_bench), median\"" > o
	for (vi = 1; vi <= 4; vi++) {
		v = vi == 1 ? "stock" : vi == 2 ? "series" : vi == 3 ? "series_inode_share" : "limit"
		printf ",\n    \"%s\": {", v > o
		for (i = 1; i <= 5; i++) {
			s = "n=" p5n[i]
			if (v == "stock") val = js("stock", "p5", s " mode=plain", "cache_bytes", 1)
			else if (v == "series") val = js("series", "p5", s " mode=plain", "cache_bytes", 1)
			else if (v == "series_inode_share") val = js("series", "p5", s " mode=inode_share", "cache_bytes", 1)
			else val = has("series", "p5", s " mode=limit", "cache_bytes") ? js("series", "p5", s " mode=limit", "cache_bytes", 1) : js("stock", "p5", s " mode=limit", "cache_bytes", 1)
			printf "%s\"%d\": %s", (i > 1 ? ", " : ""), p5n[i], val > o
		}
		printf "}" > o
	}
	printf ",\n    \"read_mib_per_s\": {\"stock\": {\"cold\": %s, \"warm\": %s}, \"series\": {\"cold\": %s, \"warm\": %s}, \"series_inode_share\": {\"cold\": %s, \"warm\": %s}}", \
		js("stock", "p5read", "mode=plain what=cold", "mib_per_s", 1), js("stock", "p5read", "mode=plain what=warm", "mib_per_s", 1),
		js("series", "p5read", "mode=plain what=cold", "mib_per_s", 1), js("series", "p5read", "mode=plain what=warm", "mib_per_s", 1),
		js("series", "p5read", "mode=inode_share what=cold", "mib_per_s", 1), js("series", "p5read", "mode=inode_share what=warm", "mib_per_s", 1) > o
	printf ",\n    \"mount_ms\": {\"stock\": %s, \"series\": %s, \"series_inode_share\": %s}", \
		js("stock", "p5mount", "mode=plain", "mount_ms", 1), js("series", "p5mount", "mode=plain", "mount_ms", 1),
		js("series", "p5mount", "mode=inode_share", "mount_ms", 1) > o
	printf "}\n}\n" > o
}' "$out/records.tsv"
note "wrote $out/table.txt, $out/results.json"

# ---- plots ---------------------------------------------------------------
command -v gnuplot >/dev/null || { note "no gnuplot: plots skipped"; exit 0; }
# p3 probe points and p4 points as small data files
awk -F'\t' -v OUT="$out" '
$2 == "p3" && $4 == "reg_ns" { split($3, a, "="); print a[2], $5 / 1000, $6 / 1000, $7 / 1000 > (OUT "/p3probe-" $1 ".dat") }
$2 == "p3" && $4 == "mount_ms" { split($3, a, "="); print a[2], $5, $6, $7 > (OUT "/p3mount-" $1 ".dat") }
$2 == "p4" { split($3, a, /[ =]/); print a[4], $5, $6, $7 > (OUT "/p4-" $1 "-" a[6] "-bg" a[2] ".dat") }
' "$out/records.tsv"
for f in "$out"/p4-*.dat; do [ -f "$f" ] && sort -n -o "$f" "$f"; done
for f in "$out"/p3probe-*.dat "$out"/p3mount-*.dat; do [ -f "$f" ] && sort -n -o "$f" "$f"; done

plot() {	# plot NAME GNUPLOT-COMMANDS
	gnuplot -e "set terminal pngcairo size 900,560 font 'Sans,10'; set output '$out/$1.png'; $2" \
		2>"$out/$1.gnuplot.log" && note "plot: $out/$1.png" ||
		note "plot $1 failed: $(head -3 "$out/$1.gnuplot.log")"
}
cd "$out" || exit 1
ex() { [ -s "$1" ] && echo "$1"; }
series=""
for v in stock series; do
	c=$([ $v = stock ] && echo '#c0392b' || echo '#2471a3')
	[ -s "p3grow-$v.dat" ] && series="$series '"p3grow-$v.dat"' using (\$1+50):(\$2/1000) with points pt 7 ps 0.5 lc rgb '$c' title '$v: each growth mount (median of its 100)',"
	[ -s "p3probe-$v.dat" ] && series="$series '"p3probe-$v.dat"' using 1:2:3:4 with yerrorlines lw 2 pt 5 lc rgb '$c' title '$v: small probe image, median [min-max] over repetitions',"
done
[ -n "$series" ] && plot p3-registration "set title 'P3: cost of registering one blob vs blobs already in the domain (function\\_graph, QEMU TCG)'; set xlabel 'blobs registered in the domain'; set ylabel 'microseconds per erofs\\_fscache\\_register\\_cookie()'; set logscale x; set logscale y; set grid; set key top left; plot ${series%,}"

series=""
for v in stock series; do
	c=$([ $v = stock ] && echo '#c0392b' || echo '#2471a3')
	[ -s "p3grow-$v.dat" ] && series="$series '"p3grow-$v.dat"' using (\$1+50):3 with points pt 7 ps 0.5 lc rgb '$c' title '$v: growth mount (100 blobs)',"
	[ -s "p3mount-$v.dat" ] && series="$series '"p3mount-$v.dat"' using 1:2:3:4 with yerrorlines lw 2 pt 5 lc rgb '$c' title '$v: small image (5 blobs), median [min-max]',"
done
[ -n "$series" ] && plot p3-mount "set title 'P3: mount latency vs blobs in the domain (QEMU TCG)'; set xlabel 'blobs registered in the domain'; set ylabel 'mount(2) ms'; set logscale x; set logscale y; set grid; set key top left; plot ${series%,}"

for bg in $(ls p4-*-bg*.dat 2>/dev/null | sed 's/.*-bg\([0-9]*\)\.dat/\1/' | sort -un); do
	series=""
	for v in stock series; do
		for m in split one; do
			f=p4-$v-$m-bg$bg.dat
			[ -s "$f" ] || continue
			c=$([ $v = stock ] && echo '#c0392b' || echo '#2471a3')
			dt=$([ $m = split ] && echo 1 || echo 2)
			t=$([ $m = split ] && echo "K domains" || echo "one domain")
			series="$series '$f' using 1:2:3:4 with yerrorlines lw 2 dt $dt lc rgb '$c' title '$v, $t',"
		done
	done
	t="P4: mount+umount cycles per second, K workers (guest -smp 2, QEMU TCG)"
	[ "$bg" = 0 ] || t="$t\\nwith a neighbour domain of $bg blobs mounted"
	[ -n "$series" ] && plot "p4-contention-bg$bg" "set title \"$t\"; set xlabel 'workers K'; set ylabel 'mounts per second (median [min-max])'; set logscale x 2; set xrange [0.8:10]; set xtics (1,2,4,8); set yrange [0:*]; set grid; set key bottom right; plot ${series%,}"
done

# P1/P2: each quantity relative to its limit
awk -F'\t' '
$2 ~ /^p[12]$/ && $3 ~ /^mode=/ { k = $2 "/" $4; split($3, a, "="); v[$1, k, a[2]] = $5 }
END {
	n = split("p1/opens p1/bytes_served p2/cache_bytes", q, " ")
	split("OPENs|bytes served|cache on disk", lab, "|")
	for (i = 1; i <= n; i++) {
		l = v["stock", q[i], "limit"]
		if (l == "") continue
		printf "\"%s\" %f %f %f 1\n", lab[i], v["stock", q[i], "nodomain"] / l, v["stock", q[i], "domain"] / l, v["series", q[i], "domain"] / l
	}
}' records.tsv >p12.dat
[ -s p12.dat ] && plot p12-sharing "set title 'P1/P2: 20 images over shared layers, relative to the limit (every distinct blob once)'; set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1; set boxwidth 0.9; set xrange [-0.6:2.6]; set ylabel 'x limit'; set yrange [0:*]; set grid ytics; set key top right; plot 'p12.dat' using 2:xtic(1) title 'no domain' lc rgb '#7f8c8d', '' using 3 title 'stock domain' lc rgb '#c0392b', '' using 4 title 'series domain' lc rgb '#2471a3', '' using 5 title 'limit' lc rgb '#27ae60'"
# P5: page cache vs N images, four lines
awk -F'\t' '$2 == "p5" && $4 == "cache_bytes" {
	split($3, a, /[ =]/); k = ($1 == "series" && a[4] == "inode_share") ? "series_inode_share" : (a[4] == "limit" ? "limit" : $1)
	if (k == "limit" && $1 == "stock" && done_limit[a[2]]++) next
	print a[2], $5 / 1048576, $6 / 1048576, $7 / 1048576 > ("p5-" k ".dat")
}' records.tsv
for f in p5-*.dat; do [ -f "$f" ] && sort -n -u -o "$f" "$f"; done
series=""
for k in stock series series_inode_share limit; do
	[ -s "p5-$k.dat" ] || continue
	# stock and series, and sharing and the limit, overlap: dashes tell them apart
	case $k in stock) c='#c0392b' dt=1 ;; series) c='#e67e22' dt=2 ;; series_inode_share) c='#2471a3' dt=1 ;; *) c='#27ae60' dt=2 ;; esac
	series="$series 'p5-$k.dat' using 1:2:3:4 with yerrorlines lw 2 dt $dt pt 7 lc rgb '$c' title '${k//_/ }',"
done
[ -n "$series" ] && plot p5-page-cache "set title 'P5: page cache after N images of one domain read the same 32 MiB (QEMU TCG)'; set xlabel 'images N'; set ylabel 'MiB of page cache (median [min-max])'; set logscale x 2; set xrange [0.8:20]; set xtics (1,2,4,8,16); set yrange [0:*]; set grid; set key top left; plot ${series%,}"
exit 0
