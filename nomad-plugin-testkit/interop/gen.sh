#!/usr/bin/env bash
# Regenerates the Go stubs under gen/ from nomad-plugin-proto/proto, so the
# Go interop hosts speak exactly the wire our Rust crates are built from.
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc (see the versions below).
# The generated files are committed, so building the hosts needs none of this.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protos="$here/../../nomad-plugin-proto/proto"
export PATH="$PATH:$(go env GOPATH)/bin"
command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
command -v protoc-gen-go-grpc >/dev/null || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
rm -rf "$here/gen"
cd "$protos"
files=$(find . -name '*.proto' | sed 's|^\./||' | sort)
protoc -I . \
  --go_out="$here" --go_opt=module=nomad-plugin-rs/interop \
  --go-grpc_out="$here" --go-grpc_opt=module=nomad-plugin-rs/interop \
  $files
