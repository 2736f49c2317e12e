#!/usr/bin/env bash
# Regenerates python/trellis/v1 from Protos/trellis/v1/*.proto (pip install grpcio-tools).
#   scripts/generate-python.sh           regenerate
#   scripts/generate-python.sh --check   fail if the committed stubs differ from what the protos generate
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import grpc_tools" 2>/dev/null || { echo "error: pip install grpcio-tools" >&2; exit 1; }
out=python
if [ "${1:-}" = "--check" ]; then out=$(mktemp -d); fi
mkdir -p "$out/trellis/v1"
python3 -m grpc_tools.protoc --proto_path=Protos --python_out="$out" --grpc_python_out="$out" Protos/trellis/v1/*.proto
if [ "${1:-}" = "--check" ]; then
    for file in "$out"/trellis/v1/*.py; do
        if ! cmp -s "$file" "python/trellis/v1/$(basename "$file")"; then
            echo "error: python/trellis/v1 is not what Protos/ generate; run scripts/generate-python.sh" >&2
            exit 1
        fi
    done
    echo "generated Python stubs are current"
fi
