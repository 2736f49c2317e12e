#!/usr/bin/env bash
# Regenerates Sources/TrellisProtocol/Generated from Protos/trellis/v1/*.proto.
#   scripts/generate-protos.sh           regenerate
#   scripts/generate-protos.sh --check   fail if the committed code differs from what the protos generate
# Needs protoc (apt-get install protobuf-compiler). The two Swift plugins are built from swift-protobuf and
# grpc-swift-protobuf at the versions Package.swift uses (about a minute the first time, cached after).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "error: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
tools=.build-protoc
swift build -c release --package-path scripts/protoc-plugins --scratch-path "$tools" \
    --product protoc-gen-swift >/dev/null
swift build -c release --package-path scripts/protoc-plugins --scratch-path "$tools" \
    --product protoc-gen-grpc-swift-2 >/dev/null
bin="$tools/release"

out=Sources/TrellisProtocol/Generated
if [ "${1:-}" = "--check" ]; then
    target=$(mktemp -d)
else
    target=$out
    rm -f "$out"/*.swift
fi
mkdir -p "$target"
protoc --proto_path=Protos \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --swift_out="$target" --swift_opt=Visibility=Package,FileNaming=DropPath,UseAccessLevelOnImports=true \
    --grpc-swift_out="$target" --grpc-swift_opt=Visibility=Package,FileNaming=DropPath,Client=true,Server=true,UseAccessLevelOnImports=true \
    Protos/trellis/v1/*.proto

if [ "${1:-}" = "--check" ]; then
    if ! diff -r -x README.md "$target" "$out" >/dev/null; then
        diff -r -x README.md "$target" "$out" | head -40 >&2
        echo "error: $out is not what Protos/ generate; run scripts/generate-protos.sh" >&2
        exit 1
    fi
    echo "generated code is current"
fi
