//go:build tools

// Package tools pins kubernetes-csi's csi-sanity, the community's CSI
// conformance suite, so `go build github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity`
// inside this module builds exactly the version in go.mod. It lives in its
// own module so its dependencies never clash with the go-plugin interop
// module one directory up.
package tools

import _ "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity"
