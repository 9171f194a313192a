#!/usr/bin/env bash
# Assembles src/sip/head-scan.wat with wat2wasm (Debian package wabt) and writes the bytes,
# base64, into src/sip/head-scan.ts (HEAD_SCAN_WASM). Run after editing the .wat; a test
# checks the two agree.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
wat2wasm src/sip/head-scan.wat -o "$tmp"
b64=$(base64 -w0 "$tmp")
node -e '
const fs = require("node:fs");
const file = "src/sip/head-scan.ts";
const text = fs.readFileSync(file, "utf8");
const next = text.replace(/(export const HEAD_SCAN_WASM =\s*)\x27[^\x27]*\x27/, `$1\x27${process.argv[1]}\x27`);
if (next === text && !text.includes(process.argv[1])) throw new Error("HEAD_SCAN_WASM not found");
fs.writeFileSync(file, next);
' "$b64"
echo "build-head-scan: src/sip/head-scan.ts updated ($(stat -c %s "$tmp") bytes of WebAssembly)"
